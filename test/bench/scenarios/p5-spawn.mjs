// P5: spawn -> ready of one agent under the sandbox eosd applies today, vs a bare `node -e 0`.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fixture, IS_ROOT, startDaemon } from '../lib/daemon.mjs';
import { quantile, summary } from '../lib/stats.mjs';

export const id = 'p5';
export const title = 'spawn -> ready (StartAgent round trip), sandbox as eosd applies it';

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

export async function run(opts) {
  const n = opts.spawns;
  const warmup = 2;
  const bare = [];
  for (let i = 0; i < n + warmup; i++) {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    await once(child, 'exit');
    if (i >= warmup) {
      bare.push(ms(t0));
    }
  }
  const daemon = await startDaemon({
    agents: [{ id: 'bench-idle', package: fixture('bench-idle'), tier: 'low', autostart: false, stopGraceMs: 2_000 }],
  });
  const ready = [];
  try {
    for (let i = 0; i < n + warmup; i++) {
      const t0 = process.hrtime.bigint();
      await daemon.client.startAgent('bench-idle');
      const dt = ms(t0);
      await daemon.client.stopAgent('bench-idle');
      if (i >= warmup) {
        ready.push(dt);
      }
    }
  } finally {
    await daemon.stop();
  }
  const r = summary(ready);
  const b = summary(bare);
  const ratio = r.median / b.median;
  return {
    metrics: { p50: { ...r, unit: 'ms' }, p99: { median: quantile(ready, 0.99), n, unit: 'ms' } },
    baselines: { nodeE0: { ...b, unit: 'ms', what: 'spawn `node -e 0` to exit' } },
    ratios: { p50VsNodeE0: ratio },
    goals: [{ text: 'p50 <= 1.6 x node -e 0', pass: ratio <= 1.6 }],
    notes: [
      `${n} starts after ${warmup} warm-up; sandbox today: ${IS_ROOT ? 'own uid/gid, own process group, explicit env' : 'dev mode (not root): no uid drop'}`,
    ],
  };
}
