// How long @everythingos/sdk/testing takes to start (eosd + peer + agent running) and to close.
// Run after `pnpm build`: node test/bench/harness-start.bench.mjs [runs]
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { cpus } from 'node:os';
import { startAgentHarness } from '@everythingos/sdk/testing';

const runs = Number(process.argv[2] ?? 10);
const packageDir = fileURLToPath(new URL('../fixtures/agents/harness-echo', import.meta.url));
const start = [];
const roundTrip = [];
const close = [];
for (let i = 0; i < runs; i++) {
  const t0 = performance.now();
  const h = await startAgentHarness({ packageDir, logLevel: 'info' });
  const t1 = performance.now();
  await h.emit('echo.in', { op: 'echo', n: i });
  await h.nextEvent('echo.out');
  const t2 = performance.now();
  await h.close();
  const t3 = performance.now();
  start.push(t1 - t0);
  roundTrip.push(t2 - t1);
  close.push(t3 - t2);
}
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return `median ${q(0.5).toFixed(0)} ms, min ${s[0].toFixed(0)}, p90 ${q(0.9).toFixed(0)}, max ${s.at(-1).toFixed(0)}`;
};
console.log(`node ${process.version}, ${cpus().length}× ${cpus()[0]?.model}, uid ${process.getuid?.()}, ${runs} runs`);
console.log(`start (ready to emit): ${stats(start)}`);
console.log(`first emit → observed answer: ${stats(roundTrip)}`);
console.log(`close: ${stats(close)}`);
