// P5: spawn -> ready of one agent under the sandbox eosd applies today, vs a bare `node -e 0`.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { AGENT_ENV, fixture, inheritedNodeVars, IS_ROOT, startDaemon } from '../lib/daemon.mjs';
import { quantile, summary } from '../lib/stats.mjs';

export const id = 'p5';
export const title = 'spawn -> ready (StartAgent round trip), sandbox as eosd applies it';

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

/** Times `node -e 0` spawn -> exit from a fresh, small node process; the first `warmup` are dropped. */
async function bareSpawns(n, warmup, withInherited) {
  const script = `
    const { spawnSync } = require('node:child_process');
    const env = JSON.parse(process.argv[1]);
    const time = (e) => { const t0 = process.hrtime.bigint(); spawnSync(process.execPath, ['-e', '0'], { stdio: 'ignore', env: e }); return Number(process.hrtime.bigint() - t0) / 1e6; };
    const out = { bare: [], bareInherited: [] };
    for (let i = 0; i < ${n + warmup}; i++) {
      const clean = time(env);
      const inherited = ${withInherited} ? time(process.env) : undefined;
      if (i >= ${warmup}) { out.bare.push(clean); if (inherited !== undefined) out.bareInherited.push(inherited); }
    }
    process.stdout.write(JSON.stringify(out));`;
  const child = spawn(process.execPath, ['-e', script, JSON.stringify(AGENT_ENV)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  child.stdout.setEncoding('utf8').on('data', (c) => (text += c));
  const [code] = await once(child, 'exit');
  if (code !== 0) {
    throw new Error(`baseline spawner exited ${code}`);
  }
  return JSON.parse(text);
}

export async function run(opts) {
  const n = opts.spawns;
  const warmup = 2;
  // The baseline node gets the agent's environment; the bench's own environment is timed alongside,
  // interleaved, when it holds NODE_* variables (they change what node does at start). Both are
  // spawned by a small node process of their own: a fork costs more from a parent with a large heap,
  // and this runner's grows over a full run (P5 after P1-P4 measured a 35 ms baseline, alone 22 ms).
  const nodeVars = inheritedNodeVars();
  const { bare, bareInherited } = await bareSpawns(n, warmup, nodeVars.length > 0);
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
    baselines: {
      nodeE0: { ...b, unit: 'ms', what: "spawn `node -e 0` to exit, with the agent's environment (PATH, LANG)" },
      ...(bareInherited.length === 0
        ? {}
        : { nodeE0BenchEnv: { ...summary(bareInherited), unit: 'ms', what: `the same with the bench's environment (${nodeVars.join(', ')}); not the goal's baseline: agents never get these` } }),
    },
    ratios: { p50VsNodeE0: ratio },
    goals: [{ text: 'p50 <= 1.6 x node -e 0', pass: ratio <= 1.6 }],
    notes: [
      `${n} starts after ${warmup} warm-up; sandbox: ${IS_ROOT ? 'the full chain of docs/sandbox.md (root)' : 'dev mode (not root): no uid drop'}`,
    ],
  };
}
