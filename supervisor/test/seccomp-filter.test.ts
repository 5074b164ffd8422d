import { describe, expect, it } from 'vitest';
import { CLONE_NEW_MASK, generateSeccompFilter, SOCK_FILTER_SIZE_BYTES, type SeccompArch } from '../src/sandbox/seccomp-filter.js';

const KILL_PROCESS = 0x80000000;
const ALLOW = 0x7fff0000;
const errno = (e: number): number => 0x00050000 | e;
const AUDIT = { x86_64: 0xc000003e, aarch64: 0xc00000b7, i386: 0x40000003 } as const;

/** A classic-BPF interpreter for the instruction subset seccomp allows; independent of the generator. */
function run(prog: Buffer, data: { nr: number; arch: number; args?: number[] }): number {
  const mem = Buffer.alloc(64);
  mem.writeInt32LE(data.nr, 0);
  mem.writeUInt32LE(data.arch, 4);
  (data.args ?? []).forEach((a, i) => mem.writeBigUInt64LE(BigInt(a), 16 + 8 * i));
  let acc = 0;
  for (let pc = 0; pc * 8 < prog.length; pc++) {
    const code = prog.readUInt16LE(pc * 8);
    const jt = prog.readUInt8(pc * 8 + 2);
    const jf = prog.readUInt8(pc * 8 + 3);
    const k = prog.readUInt32LE(pc * 8 + 4);
    switch (code) {
      case 0x20:
        acc = mem.readUInt32LE(k);
        break;
      case 0x15:
        pc += acc === k ? jt : jf;
        break;
      case 0x35:
        pc += acc >= k ? jt : jf;
        break;
      case 0x45:
        pc += (acc & k) !== 0 ? jt : jf;
        break;
      case 0x06:
        return k;
      default:
        throw new Error(`unexpected opcode 0x${code.toString(16)} at ${pc}`);
    }
  }
  throw new Error('fell off the end of the program');
}

const NR = {
  x86_64: { read: 0, ptrace: 101, mount: 165, unshare: 272, setns: 308, bpf: 321, io_uring_setup: 425, clone: 56, clone3: 435, socket: 41, process_vm_readv: 310, keyctl: 250, perf_event_open: 298, kexec_load: 246, finit_module: 313, reboot: 169, fsopen: 430, open_tree: 428 },
  aarch64: { read: 63, ptrace: 117, mount: 40, unshare: 97, setns: 268, bpf: 280, io_uring_setup: 425, clone: 220, clone3: 435, socket: 198, process_vm_readv: 270, keyctl: 219, perf_event_open: 241, kexec_load: 104, finit_module: 273, reboot: 142, fsopen: 430, open_tree: 428 },
} as const;

const THREAD_FLAGS = 0x3d0f00; // what glibc pthread_create passes to clone
const FORK_FLAGS = 0x01200011; // CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID|SIGCHLD

describe.each(['x86_64', 'aarch64'] as const)('generateSeccompFilter(%s)', (arch: SeccompArch) => {
  const prog = generateSeccompFilter(arch);
  const nr = NR[arch];
  const call = (n: number, args: number[] = []): number => run(prog, { nr: n, arch: AUDIT[arch], args });

  it('is a whole number of sock_filter entries within BPF_MAXINSNS', () => {
    expect(prog.length % SOCK_FILTER_SIZE_BYTES).toBe(0);
    expect(prog.length / SOCK_FILTER_SIZE_BYTES).toBeLessThanOrEqual(4096);
  });

  it('kills the process on a syscall from another architecture', () => {
    const other = arch === 'x86_64' ? AUDIT.i386 : AUDIT.x86_64;
    expect(run(prog, { nr: nr.read, arch: other })).toBe(KILL_PROCESS);
  });

  it('allows ordinary syscalls', () => {
    expect(call(nr.read)).toBe(ALLOW);
  });

  it.each(['ptrace', 'mount', 'unshare', 'setns', 'bpf', 'io_uring_setup', 'process_vm_readv', 'keyctl', 'perf_event_open', 'kexec_load', 'finit_module', 'reboot', 'fsopen', 'open_tree'] as const)(
    'denies %s with EPERM',
    (name) => {
      expect(call(nr[name])).toBe(errno(1));
    },
  );

  it('returns ENOSYS for clone3 so libc falls back to clone', () => {
    expect(call(nr.clone3)).toBe(errno(38));
  });

  it('allows clone for threads and fork but denies every CLONE_NEW* flag', () => {
    expect(call(nr.clone, [THREAD_FLAGS])).toBe(ALLOW);
    expect(call(nr.clone, [FORK_FLAGS])).toBe(ALLOW);
    for (let bit = 0; bit < 32; bit++) {
      const flag = (1 << bit) >>> 0;
      if ((CLONE_NEW_MASK & flag) !== 0) {
        expect(call(nr.clone, [FORK_FLAGS | flag])).toBe(errno(1));
      }
    }
    expect(call(nr.clone, [0x10000000 | 17])).toBe(errno(1)); // CLONE_NEWUSER|SIGCHLD
  });

  it('restricts socket families only when unixSocketsOnly is set', () => {
    expect(call(nr.socket, [2])).toBe(ALLOW);
    const unixOnly = generateSeccompFilter(arch, { unixSocketsOnly: true });
    expect(run(unixOnly, { nr: nr.socket, arch: AUDIT[arch], args: [2] })).toBe(errno(97));
    expect(run(unixOnly, { nr: nr.socket, arch: AUDIT[arch], args: [1] })).toBe(ALLOW);
    expect(run(unixOnly, { nr: nr.ptrace, arch: AUDIT[arch] })).toBe(errno(1));
  });
});

describe('generateSeccompFilter x86_64 specifics', () => {
  it('answers x32 syscalls with ENOSYS', () => {
    const prog = generateSeccompFilter('x86_64');
    expect(run(prog, { nr: 0x40000000 + 101, arch: AUDIT.x86_64 })).toBe(errno(38));
  });
});
