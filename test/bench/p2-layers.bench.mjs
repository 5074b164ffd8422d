// P2 per-layer CPU: runs the P2 ping-pong (bench-receiver <-> eosd <-> bench-sender) with one sandbox
// layer changed per variant, interleaved, and reports CPU µs per ping of each process from
// /proc/<pid>/stat (whole process trees) over the measured pings (from the receiver's 'bench warm'
// line; with --warmup 0 from Ready, as P2 did before), per-block p50s (--block), main thread against
// V8's helper threads, context switches per ping and cgroup throttling; with --long N also a run of N
// pings and the marginal CPU per ping between the two. Run as root after `pnpm build`:
//   node test/bench/p2-layers.bench.mjs [--rounds 3] [--pings 2000] [--warmup 3000] [--long N] [variant...]
// Variants: full (default config), noperm (sandbox.nodePermissions false), nons (sandbox.namespaces
// false: no bwrap, no seccomp), noquota (limits.cpuPercent 10000), bare (no sandbox layer at all; see below).
import { readFile, rm } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { copyFixture, fixture, packagesDir, startDaemon } from './lib/daemon.mjs';
import { processTree } from './lib/procs.mjs';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { rounds: { type: 'string', default: '3' }, pings: { type: 'string', default: '2000' }, long: { type: 'string', default: '0' }, warmup: { type: 'string', default: '3000' }, block: { type: 'string', default: '1000' } },
});

const VARIANTS = {
  full: {},
  noperm: { agent: { sandbox: { nodePermissions: false } } },
  nons: { daemon: { sandbox: { namespaces: false } } },
  noquota: { agent: { limits: { cpuPercent: 10_000 } } },
  // 'process' mode (plain node, daemon's uid, no cgroup): needs a local switch in the built
  // supervisor (chooseMode returning 'process' when EOS_LOCAL_FORCE_MODE=process); not in the product.
  bare: { env: { EOS_LOCAL_FORCE_MODE: 'process' }, agent: { sandbox: { nodePermissions: false } } },
};

const TICK_US = 10_000;

async function stat(pid) {
  try {
    const s = await readFile(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    const st = await readFile(`/proc/${pid}/status`, 'utf8');
    const vol = Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(st)[1]);
    const nonvol = Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(st)[1]);
    return { cpu: (Number(f[11]) + Number(f[12])) * TICK_US, utime: Number(f[11]) * TICK_US, vol, nonvol };
  } catch {
    return { cpu: 0, utime: 0, vol: 0, nonvol: 0 };
  }
}

async function treeStat(pid) {
  const t = { cpu: 0, utime: 0, vol: 0, nonvol: 0 };
  for (const p of await processTree(pid)) {
    const s = await stat(p);
    for (const k of Object.keys(t)) t[k] += s[k];
  }
  return t;
}

async function throttled(pid) {
  try {
    const lines = (await readFile(`/proc/${pid}/cgroup`, 'utf8')).trim().split('\n');
    // cgroup v1 (the cpu controller's own hierarchy) or the v2 unified line.
    const v1 = lines.find((l) => /^\d+:[^:]*\bcpu\b[^:]*:/.test(l));
    const path = v1 !== undefined ? `/sys/fs/cgroup/${v1.split(':')[1]}${v1.split(':')[2]}` : `/sys/fs/cgroup${lines.find((l) => l.startsWith('0::')).slice(3)}`;
    const s = await readFile(`${path}/cpu.stat`, 'utf8');
    return Number(/nr_throttled (\d+)/.exec(s)[1]);
  } catch {
    return Number.NaN;
  }
}

/** CPU µs per thread name (comm) of one process. */
async function threads(pid) {
  const out = {};
  try {
    const { readdir } = await import('node:fs/promises');
    for (const t of await readdir(`/proc/${pid}/task`)) {
      const s = await readFile(`/proc/${pid}/task/${t}/stat`, 'utf8');
      const name = t === String(pid) ? "main" : "other";
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      out[name] = (out[name] ?? 0) + (Number(f[11]) + Number(f[12])) * TICK_US;
    }
  } catch {
    // gone
  }
  return out;
}

const diff = (a, b) => Object.fromEntries(Object.keys(b).map((k) => [k, b[k] - (a[k] ?? 0)]).filter(([, v]) => v > 0));

async function deepest(pid) {
  const tree = await processTree(pid);
  return tree[tree.length - 1];
}

async function runOnce(variant, pings) {
  const v = VARIANTS[variant];
  const params = { rounds: 0, warmupRounds: 0, count: 0, pings, warmupPings: Number(values.warmup) };
  const pkgs = await packagesDir();
  let daemon;
  try {
    const receiver = await copyFixture(pkgs, 'bench-receiver', { 'bench.json': JSON.stringify(params) });
    const rateLimit = { eventsPerSec: 1_000_000, burst: 1_000_000 };
    daemon = await startDaemon({
      bus: { globalRateLimit: { eventsPerSec: 1_000_000, burst: 1_000_000 } },
      ...v.daemon,
      agents: [
        { id: 'bench-receiver', package: receiver, tier: 'low', autostart: false, rateLimit, ...v.agent },
        { id: 'bench-sender', package: fixture('bench-sender'), tier: 'low', autostart: false, rateLimit, ...v.agent },
      ],
    }, { extraEnv: v.env ?? {} });
    const rPid = (await daemon.client.startAgent('bench-receiver')).pid;
    const sPid = (await daemon.client.startAgent('bench-sender')).pid;
    const dPid = daemon.proc.child.pid;
    const leaf = await deepest(sPid);
    if (params.warmupPings > 0) {
      // The CPU window starts at the end of the warm-up (the receiver's 'bench warm' line).
      await daemon.proc.waitFor((l) => l.msg === 'bench warm' || l.msg === 'bench control emit failed', 120_000, 'end of warm-up');
    }
    const before = { d: await stat(dPid), s: await treeStat(sPid), r: await treeStat(rPid), thr: await throttled(leaf) };
    const th0 = { s: await threads(leaf), d: await threads(dPid) };
    const t0 = process.hrtime.bigint();
    await daemon.proc.waitFor((l) => l.msg === 'bench latency' || l.msg === 'bench control emit failed', 300_000, 'results');
    const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const after = { d: await stat(dPid), s: await treeStat(sPid), r: await treeStat(rPid), thr: await throttled(leaf) };
    const th1 = { s: await threads(leaf), d: await threads(dPid) };
    const fail = daemon.proc.lines.find((l) => l.msg === 'bench control emit failed');
    if (fail !== undefined) throw new Error(JSON.stringify(fail));
    const raw = daemon.proc.lines.find((l) => l.msg === 'bench latency').agent.us;
    const blocks = [];
    const bs = Number(values.block);
    for (let i = 0; i < raw.length; i += bs) {
      const b = raw.slice(i, i + bs).sort((x, y) => x - y);
      blocks.push(Math.round(b[Math.floor(b.length / 2)]));
    }
    const us = [...raw].sort((a, b) => a - b);
    const n = params.warmupPings > 0 ? pings : pings + params.warmupPings;
    const per = (k, f) => (after[k][f] - before[k][f]) / n;
    return {
      variant,
      pings,
      n,
      p50: us[Math.floor(us.length * 0.5)],
      p99: us[Math.floor(us.length * 0.99)],
      wallMs,
      blockP50: blocks,
      cpu: { d: (after.d.cpu - before.d.cpu), s: (after.s.cpu - before.s.cpu), r: (after.r.cpu - before.r.cpu) },
      perPing: { d: per('d', 'cpu'), s: per('s', 'cpu'), r: per('r', 'cpu') },
      userPerPing: { d: per('d', 'utime'), s: per('s', 'utime'), r: per('r', 'utime') },
      csPerPing: { sVol: per('s', 'vol'), sNon: per('s', 'nonvol'), dVol: per('d', 'vol') },
      throttled: after.thr - before.thr,
      load: loadavg()[0],
      threads: { s: diff(th0.s, th1.s), d: diff(th0.d, th1.d) },
    };
  } finally {
    await daemon?.stop();
    await rm(pkgs, { recursive: true, force: true });
  }
}

const names = positionals.length > 0 ? positionals : Object.keys(VARIANTS);
const rounds = Number(values.rounds);
const short = Number(values.pings);
const long = Number(values.long);
for (let i = 0; i < rounds; i++) {
  for (const name of names) {
    const a = await runOnce(name, short);
    const line = { round: i, ...a };
    if (long > 0) {
      const b = await runOnce(name, long);
      line.long = b;
      // CPU per ping between the two run lengths: fixed costs after Ready cancel out.
      line.marginal = Object.fromEntries(Object.keys(a.cpu).map((k) => [k, (b.cpu[k] - a.cpu[k]) / (b.n - a.n)]));
    }
    process.stdout.write(`${JSON.stringify(line)}\n`);
  }
}
