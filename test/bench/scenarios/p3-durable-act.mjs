// P3: durable act()/s through the real daemon: an agent with 64 acts in flight; each act is
// acknowledged only after its decision record is fdatasync'ed (group commit shares the fsyncs).
// Baseline: a raw write + fdatasync loop on the same filesystem.
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { fixture, startDaemon } from '../lib/daemon.mjs';
import { summary } from '../lib/stats.mjs';

export const id = 'p3';
export const title = 'durable act()/s (ack after fdatasync, group commit)';

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

export async function run(opts) {
  const rates = [];
  const raw = [];
  for (let r = 0; r < Math.max(1, Math.min(opts.repeats, 3)); r++) {
    raw.push(rawFsyncRate(2));
    const daemon = await startDaemon(
      { agents: [{ id: 'bench-actor', package: fixture('bench-actor'), tier: 'low', rateLimit: { eventsPerSec: 1e6, burst: 1e6 } }] },
      { nodeArgs: opts.daemonNodeArgs },
    );
    try {
      const line = await daemon.proc.waitFor((l) => l.agentId === 'bench-actor' && l.msg === 'bench acts', 60_000, 'bench acts');
      const { acts, failed, ms } = line.agent;
      if (failed > 0) {
        throw new Error(`${failed} acts failed`);
      }
      rates.push(acts / (ms / 1000));
    } finally {
      await daemon.stop();
    }
  }
  const r = summary(rates);
  const b = summary(raw);
  return {
    metrics: { actsPerSec: { ...r, unit: 'acts/s' } },
    baselines: { rawAppendFdatasync: { ...b, unit: 'records/s', what: 'write + fdatasync per record, one fd' } },
    ratios: { vsRaw: r.median / b.median },
    goals: [{ text: '>= 10,000 durable acts/s', pass: r.median >= 10_000 }],
    notes: ['64 acts in flight from one sandboxed agent, sent as ActBatch frames on its session, 3 s per run; each act is authenticated, ACL- and rate-checked, recorded durably, then delivered'],
  };
}
