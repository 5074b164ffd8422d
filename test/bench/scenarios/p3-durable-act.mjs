// P3: durable act()/s through the real daemon. One sandboxed agent keeps a window of acts in flight
// (every act that resolves starts the next); each act is acknowledged only after its decision
// record is fdatasync'ed (group commit shares the fsyncs). Two windows are measured in the same
// run: 64 (the original closed loop: one frame per round trip) and the full-speed window
// (default 512: two ActBatch frames of 256 in flight, so fdatasyncs overlap). Besides the rate,
// each run reports the CPU time per act of the daemon (/proc/<pid>/stat over the act window) and
// of the agent (its own process.cpuUsage()). Baseline: a raw write + fdatasync loop on the same
// filesystem.
import { closeSync, fdatasyncSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { copyFixture, packagesDir, startDaemon } from '../lib/daemon.mjs';
import { summary } from '../lib/stats.mjs';

export const id = 'p3';
export const title = 'durable act()/s (ack after fdatasync, group commit)';

const SECONDS = 3;
const OLD_WINDOW = 64;
const TICKS_PER_SEC = 100;

function rawFsyncRate(seconds) {
  const dir = mkdtempSync('/tmp/eosd-bench-raw-');
  const fd = openSync(join(dir, 'raw.jsonl'), 'a');
  const line = Buffer.from(`${JSON.stringify({ v: 1, seq: 0, kind: 'agent.act', agent: 'bench-actor', payload: { loop: 1, n: 1 }, prev: '0'.repeat(64) })}\n`);
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    writeSync(fd, line);
    fdatasyncSync(fd);
    n++;
  }
  const rate = n / ((performance.now() - t0) / 1000);
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
  return rate;
}

/** utime + stime of a process, µs (USER_HZ = 100 on Linux). */
function cpuUs(pid) {
  let stat;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return Number.NaN; // the daemon has exited; waitFor reports why
  }
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1e6) / TICKS_PER_SEC;
}

async function oneRun(pkgs, inFlight, opts) {
  const pkg = await copyFixture(pkgs, 'bench-actor', { 'bench.json': JSON.stringify({ inFlight, seconds: SECONDS }) });
  const daemon = await startDaemon(
    { agents: [{ id: 'bench-actor', package: pkg, tier: 'low', rateLimit: { eventsPerSec: 1e6, burst: 1e6 } }] },
    { nodeArgs: opts.daemonNodeArgs },
  );
  try {
    const pid = daemon.proc.child.pid;
    let cpu0 = 0;
    let cpu1 = 0;
    await daemon.proc.waitFor(
      (l) => {
        const hit = l.agentId === 'bench-actor' && l.msg === 'bench acts start';
        if (hit && cpu0 === 0) cpu0 = cpuUs(pid);
        return hit;
      },
      60_000,
      'bench acts start',
    );
    const line = await daemon.proc.waitFor(
      (l) => {
        const hit = l.agentId === 'bench-actor' && l.msg === 'bench acts';
        if (hit && cpu1 === 0) cpu1 = cpuUs(pid);
        return hit;
      },
      60_000,
      'bench acts',
    );
    const { acts, failed, ms, cpuUs: agentCpuUs } = line.agent;
    if (failed > 0) {
      throw new Error(`${failed} acts failed`);
    }
    return { rate: acts / (ms / 1000), daemonUsPerAct: (cpu1 - cpu0) / acts, agentUsPerAct: agentCpuUs / acts };
  } finally {
    await daemon.stop();
    await rm(pkg, { recursive: true, force: true });
  }
}

export async function run(opts) {
  const window = opts.inFlight ?? 512;
  const windows = window === OLD_WINDOW ? [OLD_WINDOW] : [OLD_WINDOW, window];
  const runs = new Map(windows.map((w) => [w, []]));
  const raw = [];
  const pkgs = await packagesDir();
  try {
    for (let r = 0; r < Math.max(1, Math.min(opts.repeats, 5)); r++) {
      raw.push(rawFsyncRate(2));
      // Alternate the windows so both see the same machine load.
      for (const w of windows) {
        runs.get(w).push(await oneRun(pkgs, w, opts));
      }
    }
  } finally {
    await rm(pkgs, { recursive: true, force: true });
  }
  const metrics = {};
  for (const w of [...windows].reverse()) {
    const rs = runs.get(w);
    const suffix = w === window ? '' : `@${w}`;
    metrics[`actsPerSec${suffix}`] = { ...summary(rs.map((x) => x.rate)), unit: 'acts/s' };
    metrics[`daemonCpu${suffix}`] = { ...summary(rs.map((x) => x.daemonUsPerAct)), unit: 'µs/act' };
    metrics[`agentCpu${suffix}`] = { ...summary(rs.map((x) => x.agentUsPerAct)), unit: 'µs/act' };
  }
  const r = metrics.actsPerSec;
  const b = summary(raw);
  return {
    metrics,
    baselines: { rawAppendFdatasync: { ...b, unit: 'records/s', what: 'write + fdatasync per record, one fd' } },
    ratios: { vsRaw: r.median / b.median },
    goals: [{ text: '>= 10,000 durable acts/s', pass: r.median >= 10_000 }],
    notes: [
      `${window} acts in flight (and ${OLD_WINDOW} for comparison, suffix @${OLD_WINDOW}) from one sandboxed agent, sent as ActBatch frames of up to 256 on its session, ${SECONDS} s per run; each act is authenticated, ACL- and rate-checked, recorded durably, then delivered`,
      'CPU per act: daemon from /proc/<pid>/stat (10 ms ticks) over the act window, agent from its process.cpuUsage()',
    ],
  };
}
