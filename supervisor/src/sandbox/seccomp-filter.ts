/** CPU architectures the seccomp filter knows syscall numbers for. */
export type SeccompArch = 'x86_64' | 'aarch64';

/** Options for {@link generateSeccompFilter}. */
export interface SeccompFilterOptions {
  /**
   * Also return EAFNOSUPPORT for `socket()` with any family but AF_UNIX. A network cut for hosts
   * without a network namespace; redundant (but harmless) when the agent has its own netns.
   * @defaultValue false
   */
  unixSocketsOnly?: boolean;
}

/** Size of one `struct sock_filter` (u16 code, u8 jt, u8 jf, u32 k). */
export const SOCK_FILTER_SIZE_BYTES = 8;

const AUDIT_ARCH: Record<SeccompArch, number> = {
  x86_64: 0xc000003e, // EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
  aarch64: 0xc00000b7, // EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
};

const SECCOMP_RET_KILL_PROCESS = 0x80000000;
const SECCOMP_RET_ERRNO = 0x00050000;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const EPERM = 1;
const ENOSYS = 38;
const EAFNOSUPPORT = 97;
const AF_UNIX = 1;

/** x32 ABI syscalls on x86_64 have this bit set in `nr`; they bypass a table of x86_64 numbers. */
const X32_SYSCALL_BIT = 0x40000000;

/**
 * CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID |
 * CLONE_NEWNET. CLONE_NEWTIME (0x80) is left out on purpose: in clone(2) the low byte is the exit
 * signal, and a new time namespace can only be asked for through clone3 or unshare, both denied.
 */
export const CLONE_NEW_MASK = 0x7e020000;

/** seccomp_data offsets: int nr; u32 arch; u64 instruction_pointer; u64 args[6] (little endian). */
const OFF_NR = 0;
const OFF_ARCH = 4;
const OFF_ARG0_LO = 16;

const BPF_LD_W_ABS = 0x20;
const BPF_JEQ_K = 0x15;
const BPF_JGE_K = 0x35;
const BPF_JSET_K = 0x45;
const BPF_RET_K = 0x06;

/**
 * Syscalls answered with EPERM: [x86_64 number, aarch64 number]; `null` where the architecture has
 * no such syscall. Numbers from the kernel's arch/x86/entry/syscalls/syscall_64.tbl and
 * include/uapi/asm-generic/unistd.h (424+ share one numbering on every architecture).
 */
export const DENIED_SYSCALLS: Readonly<Record<string, readonly [number | null, number | null]>> = {
  ptrace: [101, 117],
  process_vm_readv: [310, 270],
  process_vm_writev: [311, 271],
  pidfd_getfd: [438, 438],
  process_madvise: [440, 440],
  kcmp: [312, 272],
  mount: [165, 40],
  umount2: [166, 39],
  pivot_root: [155, 41],
  chroot: [161, 51],
  open_tree: [428, 428],
  open_tree_attr: [467, 467],
  move_mount: [429, 429],
  fsopen: [430, 430],
  fsconfig: [431, 431],
  fsmount: [432, 432],
  fspick: [433, 433],
  mount_setattr: [442, 442],
  unshare: [272, 97],
  setns: [308, 268],
  bpf: [321, 280],
  perf_event_open: [298, 241],
  keyctl: [250, 219],
  add_key: [248, 217],
  request_key: [249, 218],
  userfaultfd: [323, 282],
  io_uring_setup: [425, 425],
  io_uring_enter: [426, 426],
  io_uring_register: [427, 427],
  init_module: [175, 105],
  finit_module: [313, 273],
  delete_module: [176, 106],
  create_module: [174, null],
  get_kernel_syms: [177, null],
  query_module: [178, null],
  kexec_load: [246, 104],
  kexec_file_load: [320, 294],
  reboot: [169, 142],
  acct: [163, 89],
  swapon: [167, 224],
  swapoff: [168, 225],
  syslog: [103, 116],
  quotactl: [179, 60],
  quotactl_fd: [443, 443],
  open_by_handle_at: [304, 265],
  name_to_handle_at: [303, 264],
  lookup_dcookie: [212, 18],
  fanotify_init: [300, 262],
  iopl: [172, null],
  ioperm: [173, null],
  modify_ldt: [154, null],
  settimeofday: [164, 170],
  clock_settime: [227, 112],
  adjtimex: [159, 171],
  clock_adjtime: [305, 266],
  vhangup: [153, 58],
  uselib: [134, null],
  ustat: [136, null],
  sysfs: [139, null],
  _sysctl: [156, null],
};

const CLONE_NR: Record<SeccompArch, number> = { x86_64: 56, aarch64: 220 };
const CLONE3_NR = 435;
const SOCKET_NR: Record<SeccompArch, number> = { x86_64: 41, aarch64: 198 };

interface Insn {
  code: number;
  k: number;
  /** Label to jump to when true, or undefined for "next instruction". */
  jt?: string;
  jf?: string;
  label?: string;
}

function assemble(insns: Insn[]): Buffer {
  const at = new Map<string, number>();
  insns.forEach((insn, i) => {
    if (insn.label !== undefined) {
      at.set(insn.label, i);
    }
  });
  const offset = (from: number, label: string | undefined): number => {
    if (label === undefined) {
      return 0;
    }
    const target = at.get(label);
    if (target === undefined) {
      throw new TypeError(`seccomp assembler: unknown label ${label}`);
    }
    const delta = target - from - 1;
    // Classic BPF jumps are forward only and fit in a u8.
    if (delta < 0 || delta > 255) {
      throw new TypeError(`seccomp assembler: jump to ${label} out of range (${delta})`);
    }
    return delta;
  };
  const out = Buffer.alloc(insns.length * SOCK_FILTER_SIZE_BYTES);
  insns.forEach((insn, i) => {
    const base = i * SOCK_FILTER_SIZE_BYTES;
    out.writeUInt16LE(insn.code, base);
    out.writeUInt8(offset(i, insn.jt), base + 2);
    out.writeUInt8(offset(i, insn.jf), base + 3);
    out.writeUInt32LE(insn.k >>> 0, base + 4);
  });
  return out;
}

/**
 * Generates the agent seccomp filter as a classic-BPF program: a Buffer of `struct sock_filter`
 * ready for `bwrap --seccomp <fd>` (the fd must read exactly these bytes).
 *
 * - Architecture check first: a syscall made with another ABI than `arch` (e.g. i386 `int 0x80`
 *   on x86_64, or AArch32 compat) kills the process. Those ABIs have other syscall numbers, so
 *   the deny list would not apply to them; Node never uses them, so such a call is an exploit
 *   attempt and a visible SIGSYS death is better than a silent EPERM.
 * - x86_64 only: x32 syscalls (nr bit 30) get ENOSYS for the same reason.
 * - {@link DENIED_SYSCALLS} get EPERM (ptrace, process_vm_*, mount and the new mount API,
 *   unshare/setns, bpf, perf_event_open, keyring, io_uring, modules, kexec, reboot, ...).
 * - `clone` with any CLONE_NEW* flag gets EPERM (argument check); `clone3` gets ENOSYS, because
 *   its flags live in user memory that seccomp cannot read; glibc then falls back to clone.
 * - Everything else is allowed.
 *
 * @param arch - The architecture of the node binary that will run under the filter.
 * @returns The BPF program; its length is a multiple of {@link SOCK_FILTER_SIZE_BYTES}.
 */
export function generateSeccompFilter(arch: SeccompArch, options: SeccompFilterOptions = {}): Buffer {
  const archIndex = arch === 'x86_64' ? 0 : 1;
  const insns: Insn[] = [
    { code: BPF_LD_W_ABS, k: OFF_ARCH },
    { code: BPF_JEQ_K, k: AUDIT_ARCH[arch], jf: 'kill' },
    { code: BPF_LD_W_ABS, k: OFF_NR },
  ];
  if (arch === 'x86_64') {
    insns.push({ code: BPF_JGE_K, k: X32_SYSCALL_BIT, jt: 'enosys' });
  }
  for (const numbers of Object.values(DENIED_SYSCALLS)) {
    const nr = numbers[archIndex];
    if (nr !== null && nr !== undefined) {
      insns.push({ code: BPF_JEQ_K, k: nr, jt: 'eperm' });
    }
  }
  insns.push({ code: BPF_JEQ_K, k: CLONE3_NR, jt: 'enosys' });
  insns.push({ code: BPF_JEQ_K, k: CLONE_NR[arch], jt: 'clone' });
  if (options.unixSocketsOnly === true) {
    insns.push({ code: BPF_JEQ_K, k: SOCKET_NR[arch], jt: 'socket' });
  }
  insns.push({ code: BPF_RET_K, k: SECCOMP_RET_ALLOW });
  // clone(flags, ...): flags is args[0] on every architecture; all CLONE_NEW* bits are in the low word.
  insns.push({ code: BPF_LD_W_ABS, k: OFF_ARG0_LO, label: 'clone' });
  insns.push({ code: BPF_JSET_K, k: CLONE_NEW_MASK, jt: 'eperm' });
  insns.push({ code: BPF_RET_K, k: SECCOMP_RET_ALLOW });
  if (options.unixSocketsOnly === true) {
    // socket(domain, ...): domain is an int, so the low word is the whole value.
    insns.push({ code: BPF_LD_W_ABS, k: OFF_ARG0_LO, label: 'socket' });
    insns.push({ code: BPF_JEQ_K, k: AF_UNIX, jf: 'eafnosupport' });
    insns.push({ code: BPF_RET_K, k: SECCOMP_RET_ALLOW });
    insns.push({ code: BPF_RET_K, k: SECCOMP_RET_ERRNO | EAFNOSUPPORT, label: 'eafnosupport' });
  }
  insns.push({ code: BPF_RET_K, k: SECCOMP_RET_ERRNO | EPERM, label: 'eperm' });
  insns.push({ code: BPF_RET_K, k: SECCOMP_RET_ERRNO | ENOSYS, label: 'enosys' });
  insns.push({ code: BPF_RET_K, k: SECCOMP_RET_KILL_PROCESS, label: 'kill' });
  return assemble(insns);
}

/** The seccomp architecture of the running Node process, or null when the filter has no table for it. */
export function currentSeccompArch(): SeccompArch | null {
  switch (process.arch) {
    case 'x64':
      return 'x86_64';
    case 'arm64':
      return 'aarch64';
    default:
      return null;
  }
}
