// How long one hostile Session frame blocks the supervisor's event loop (STRIDE D-7): a frame of
// emits or acts that all carry bad MACs (random), written by a client in a worker thread (its own event loop,
// so its encoding does not count) to a real AgentServer with real services (ledgers on disk) in
// this thread. The block is the largest gap between two ticks of this thread's event loop
// (monitorEventLoopDelay, 1 ms resolution) from the write until the frame is answered (acks or act
// results, or the session ended as a protocol violation).
// Build first: npx tsc -b   then: node test/bench/session-frame.bench.mjs [--repeats N]
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';

const { values } = parseArgs({ options: { repeats: { type: 'string', default: '7' } } });
const REPEATS = Number(values.repeats);

const sup = new URL('../../supervisor/dist/', import.meta.url);
const { AgentServer } = await import(new URL('rpc/agent-server.js', sup).href);
const { EventBus } = await import(new URL('bus/event-bus.js', sup).href);
const { newAuthCounters } = await import(new URL('rpc/auth-counters.js', sup).href);
const { CallVerifier } = await import(new URL('rpc/call-verifier.js', sup).href);
const { StateStore } = await import(new URL('state/state-store.js', sup).href);
const { parseConfig } = await import(new URL('config/load-config.js', sup).href);
const { createServices } = await import(new URL('services.js', sup).href);
const { DaemonMetrics } = await import(new URL('metrics/daemon-metrics.js', sup).href);
const { parseManifest } = await import(new URL('../../proto/dist/index.js', import.meta.url).href);
const supRequire = createRequire(new URL('../../supervisor/package.json', import.meta.url));
const { pino } = await import(supRequire.resolve('pino'));

// `rate`: the agent's rate limit (events/s = burst). 1e9: every entry is MAC-checked; 1: the bucket
// is empty after the first entry, so the rest are refused by rate (before their MAC, since D-7).
const CASES = [
  { name: 'emits x 100,000', kind: 'emits', count: 100_000, rate: 1e9 },
  { name: 'acts x 80,000', kind: 'acts', count: 80_000, rate: 1e9 },
  { name: 'emits x 1,024', kind: 'emits', count: 1_024, rate: 1e9 },
  { name: 'acts x 1,024', kind: 'acts', count: 1_024, rate: 1e9 },
  { name: 'emits x 1,024, rate-limited', kind: 'emits', count: 1_024, rate: 1 },
  { name: 'acts x 1,024, rate-limited', kind: 'acts', count: 1_024, rate: 1 },
];

const log = pino({ level: 'silent' });
const dir = await mkdtemp('/tmp/eosd-bench-frame-');
await chmod(dir, 0o700);
const stateDir = join(dir, 'state');
const metrics = new DaemonMetrics({ defaultMetrics: false });
const services = await createServices({ config: parseConfig({ dev: true, stateDir, metrics: { listen: null } }, 'bench', dir), logger: log, metrics });
const bus = new EventBus({ queueCapacity: 100, globalRateLimit: { eventsPerSec: 1e9, burst: 1e9 }, deadLetterCapacity: 10, maxPayloadBytes: 1024, logger: log });
const socketPath = join(dir, 'agent.sock');
const server = new AgentServer({
  agentId: 'a1',
  socketPath,
  manifestJson: Buffer.from('{}'),
  entryPath: '/nonexistent.js',
  tickRateMs: 0,
  heartbeatIntervalMs: 1000,
  bus,
  state: new StateStore(dir),
  authCounters: newAuthCounters(),
  manifest: parseManifest({ id: 'a1', name: 'A1', version: '1.0.0', description: 'bench agent', tier: 'low', publish: ['ok.out'] }, 'bench'),
  spec: { tier: 'low', allowModel: false, credentials: [] },
  services,
  log,
  agentLog: log,
});
await server.listen();

const worker = new Worker(new URL('./lib/session-frame-client.mjs', import.meta.url), { workerData: { socketPath } });
const replies = [];
let waiting;
worker.on('message', (m) => (waiting ? waiting(m) : replies.push(m)));
const next = () => (replies.length > 0 ? Promise.resolve(replies.shift()) : new Promise((resolve) => (waiting = (m) => ((waiting = undefined), resolve(m)))));

const h = monitorEventLoopDelay({ resolution: 1 });
h.enable();
const results = [];
bus.registerAgent('a1', { publish: new Set(['ok.out']), subscribe: new Set() }, { eventsPerSec: 1, burst: 1 });
for (const c of CASES) {
  const blocks = [];
  const outcomes = new Set();
  for (let i = 0; i < REPEATS + 1; i++) {
    const key = randomBytes(32);
    bus.unregisterAgent('a1');
    bus.registerAgent('a1', { publish: new Set(['ok.out']), subscribe: new Set() }, { eventsPerSec: c.rate, burst: c.rate });
    // Each sample is a fresh agent process as far as the server knows (new key, new session).
    server.bind({ verifier: new CallVerifier(key), onReady: () => undefined, onHeartbeat: () => undefined, onViolation: () => undefined });
    worker.postMessage({ key, kind: c.kind, count: c.count });
    const ready = await next();
    if (ready.type !== 'ready') {
      throw new Error(`client: ${JSON.stringify(ready)}`);
    }
    h.reset();
    worker.postMessage({ go: true });
    const done = await next();
    const block = h.max / 1e6;
    if (i > 0) {
      blocks.push(block);
      outcomes.add(done.outcome);
    }
  }
  blocks.sort((a, b) => a - b);
  const q = (p) => blocks[Math.min(blocks.length - 1, Math.floor(p * blocks.length))];
  results.push({ case: c.name, medianMs: +q(0.5).toFixed(1), minMs: +blocks[0].toFixed(1), maxMs: +blocks.at(-1).toFixed(1), outcome: [...outcomes].join(' | ') });
}
h.disable();
await worker.terminate();
await server.close();
await services.close();
await rm(dir, { recursive: true, force: true });

process.stdout.write(`node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? '?'}, ${REPEATS} samples per case (1 warm-up dropped)\n`);
for (const r of results) {
  process.stdout.write(`${r.case.padEnd(28)} loop block median ${String(r.medianMs).padStart(7)} ms  (min ${r.minMs}, max ${r.maxMs})  ${r.outcome}\n`);
}
