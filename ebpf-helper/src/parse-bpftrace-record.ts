import type { helperV1 } from '@everythingos/proto';

/** A kernel event as parsed from one bpftrace record; the wire shape of `KernelEvent`. */
export type KernelRecord = Required<Omit<helperV1.KernelEvent, 'idArgs'>> & { idArgs: number[] };

/** One line of `bpftrace -f json` output, classified. */
export type BpftraceLine =
  | { type: 'event'; event: KernelRecord }
  | { type: 'ready'; uidMin: number; uidMax: number }
  | { type: 'end' }
  | { type: 'attached'; probes: number }
  | { type: 'lost'; events: number }
  | { type: 'ignored' }
  | { type: 'invalid'; reason: string };

const DEC = /^-?\d{1,20}$/;
const SYSCALL_PREFIX = /^tracepoint:syscalls:sys_(?:enter|exit)_/;

/**
 * bpftrace's %r prints a fixed-size buffer, NUL padding included, as `\x00` escapes; the
 * printable text before the first NUL is the value. The result stays escaped (display text).
 */
function rField(s: string): string {
  const cut = s.indexOf('\\x00');
  return cut === -1 ? s : s.slice(0, cut);
}

function int(s: string | undefined): number | null {
  if (s === undefined || !DEC.test(s)) {
    return null;
  }
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : null;
}

function base(f: string[]): KernelRecord | null {
  const [kind, ts, pid, tid, ppid, uid, gid, cg, comm] = f;
  const nums = [pid, tid, ppid, uid, gid].map(int);
  if (kind === undefined || ts === undefined || cg === undefined || comm === undefined || !DEC.test(ts) || !DEC.test(cg)) {
    return null;
  }
  if (nums.some((n) => n === null || n < 0)) {
    return null;
  }
  const [p, t, pp, u, g] = nums as number[];
  return {
    kind,
    monoNs: ts,
    pid: p!,
    tid: t!,
    ppid: pp!,
    uid: u!,
    gid: g!,
    cgroupId: cg,
    comm: rField(comm),
    path: '',
    family: 0,
    addr: '',
    port: 0,
    flags: 0,
    request: 0,
    targetPid: 0,
    syscall: '',
    idArgs: [],
  };
}

/**
 * Parses one TAB-separated record printed by `bpf/eosd-watch.bt`. Returns null for anything that
 * does not match the record grammar exactly (wrong field count, non-numeric ids).
 */
export function parseRecord(data: string): KernelRecord | null {
  const f = data.replace(/\n$/, '').split('\t');
  const e = base(f);
  if (e === null) {
    return null;
  }
  const extra = f.slice(9);
  switch (e.kind) {
    case 'exec':
      if (extra.length !== 1) {
        return null;
      }
      e.path = rField(extra[0]!);
      return e;
    case 'connect':
    case 'tcp_syn': {
      const fam = int(extra[0]);
      const port = int(extra[2]);
      if (extra.length !== 3 || (fam !== 1 && fam !== 2 && fam !== 10) || port === null || port < 0 || port > 65535) {
        return null;
      }
      e.family = fam;
      e.port = port;
      if (fam === 1) {
        e.path = rField(extra[1]!);
      } else {
        e.addr = extra[1]!;
      }
      return e;
    }
    case 'open': {
      const flags = int(extra[0]);
      if (extra.length !== 2 || flags === null) {
        return null;
      }
      e.flags = flags;
      e.path = rField(extra[1]!);
      return e;
    }
    case 'ptrace': {
      const req = int(extra[0]);
      const target = int(extra[1]);
      if (extra.length !== 2 || req === null || target === null) {
        return null;
      }
      e.request = req;
      e.targetPid = target;
      return e;
    }
    case 'setid': {
      const args = extra.slice(1).map(int);
      if (extra.length !== 4 || !SYSCALL_PREFIX.test(extra[0]!) || args.some((a) => a === null)) {
        return null;
      }
      e.syscall = extra[0]!.replace(SYSCALL_PREFIX, '');
      e.idArgs = args as number[];
      return e;
    }
    case 'setid_ok':
    case 'priv':
      if (extra.length !== 1 || !SYSCALL_PREFIX.test(extra[0]!)) {
        return null;
      }
      e.syscall = extra[0]!.replace(SYSCALL_PREFIX, '');
      return e;
    default:
      return null;
  }
}

/** Classifies one line of `bpftrace -f json` stdout. Blank lines (bpftrace prints some at exit) are ignored. */
export function parseBpftraceLine(line: string): BpftraceLine {
  if (line.trim() === '') {
    return { type: 'ignored' };
  }
  let msg: unknown;
  try {
    msg = JSON.parse(line);
  } catch {
    return { type: 'invalid', reason: 'not JSON' };
  }
  if (typeof msg !== 'object' || msg === null) {
    return { type: 'invalid', reason: 'not an object' };
  }
  const { type, data } = msg as { type?: unknown; data?: unknown };
  if (type === 'attached_probes') {
    const probes = (data as { probes?: unknown } | null)?.probes;
    return typeof probes === 'number' ? { type: 'attached', probes } : { type: 'invalid', reason: 'bad attached_probes' };
  }
  if (type === 'lost_events') {
    const events = (data as { events?: unknown } | null)?.events;
    return typeof events === 'number' && events >= 0 ? { type: 'lost', events } : { type: 'invalid', reason: 'bad lost_events' };
  }
  if (type !== 'printf') {
    return { type: 'ignored' };
  }
  if (typeof data !== 'string') {
    return { type: 'invalid', reason: 'printf data is not a string' };
  }
  const f = data.replace(/\n$/, '').split('\t');
  if (f[0] === 'ready') {
    const uidMin = int(f[2]);
    const uidMax = int(f[3]);
    return uidMin !== null && uidMax !== null ? { type: 'ready', uidMin, uidMax } : { type: 'invalid', reason: 'bad ready record' };
  }
  if (f[0] === 'end') {
    return { type: 'end' };
  }
  const event = parseRecord(data);
  return event === null ? { type: 'invalid', reason: 'record does not match the grammar' } : { type: 'event', event };
}
