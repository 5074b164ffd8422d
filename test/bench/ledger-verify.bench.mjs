// Offline ledger verify rate, for profiling and before/after comparisons of the verify path.
//
//   npx tsc -b supervisor && node test/bench/ledger-verify.bench.mjs [--dir DIR] [--records 1000000]
//     [--workers 0,2] [--runs 5] [--keep] [--skip-baselines] [--lib URL-of-another-build-of-ledger/index.js]
//
// Builds a ledger of the P4 shape (`pnpm bench p4`) in DIR (reused when DIR already holds one and
// --keep is given), then verifies it --runs times per worker count (0 = verifyLedgerSync in this
// thread) and prints median, min and max records/s, next to two SHA-256 baselines over the same
// bytes: one streaming hash, and one leaf + one interior node hash per line (the hashing any
// RFC 6962 verifier must do). Profile with `node --cpu-prof ... --workers 0`.
import { createHash, hash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { summary } from './lib/stats.mjs';

const { values } = parseArgs({
  options: {
    dir: { type: 'string', default: '/var/tmp/eosd-verify-bench' },
    records: { type: 'string', default: '1000000' },
    workers: { type: 'string', default: '0,2' },
    runs: { type: 'string', default: '5' },
    keep: { type: 'boolean', default: false },
    'skip-baselines': { type: 'boolean', default: false },
    lib: { type: 'string', default: '../../supervisor/dist/ledger/index.js' },
  },
});
const { generateLedgerKey, Ledger, loadLedgerKey, verifyLedger, verifyLedgerSync } = await import(values.lib);
const RECORDS = Number(values.records);
const RUNS = Number(values.runs);
const noop = () => undefined;
const logger = { child: () => logger, trace: noop, debug: noop, info: noop, warn: noop, error: noop, fatal: noop };
const fmt = (n) => Math.round(n).toLocaleString('en-US');

async function build(root) {
  mkdirSync(root, { recursive: true });
  const key = generateLedgerKey(join(root, 'ledger.key'));
  const dir = join(root, 'ledger');
  const ledger = await Ledger.open(
    { dir, create: true, origin: 'bench', groupCommitMaxRecords: 4096, maxSegmentBytes: 256 * 1024 * 1024, checkpointEveryRecords: 100_000 },
    { key, logger },
  );
  for (let i = 0; i < RECORDS - 3; i += 10_000) {
    const ps = [];
    for (let j = i; j < Math.min(i + 10_000, RECORDS - 3); j++) {
      const payloadSha256 = createHash('sha256').update(String(j)).digest('hex');
      ps.push(ledger.append('agent.act', `agent-${j % 50}`, { channel: 'orders', payloadSha256, n: j }));
    }
    await Promise.all(ps);
  }
  await ledger.close();
}

function report(label, samples, records, cpuUs = []) {
  const s = summary(samples.map((ms) => records / (ms / 1000)));
  const c = cpuUs.length > 0 ? summary(cpuUs.map((us) => us / records)) : undefined;
  const cpu = c ? `; CPU ${c.median.toFixed(2)} µs/record (min ${c.min.toFixed(2)}, max ${c.max.toFixed(2)}) all threads` : '';
  console.log(`${label}: median ${fmt(s.median)} records/s (min ${fmt(s.min)}, max ${fmt(s.max)}, n ${s.n}; wall ${(1e6 / s.median).toFixed(2)} µs/record${cpu})`);
  return s;
}

/** Wall ms and process CPU µs (user + system, all threads) of `fn`. */
async function timed(fn) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = await fn();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { ms, cpuUs: c.user + c.system, out };
}

const root = values.dir;
const reuse = values.keep && existsSync(join(root, 'ledger', 'ledger.head'));
if (!reuse) {
  rmSync(root, { recursive: true, force: true });
  await build(root);
}
try {
  const key = loadLedgerKey(join(root, 'ledger.key'));
  const dir = join(root, 'ledger');
  let records = 0;
  for (const workers of values.workers.split(',').map(Number)) {
    const ms = [];
    const cpuUs = [];
    for (let r = 0; r < RUNS; r++) {
      const t = await timed(() => (workers === 0 ? verifyLedgerSync(dir, key.publicKey) : verifyLedger(dir, key.publicKey, { workers })));
      const res = t.out;
      ms.push(t.ms);
      cpuUs.push(t.cpuUs);
      if (!res.valid) {
        throw new Error(`ledger did not verify: ${JSON.stringify(res.error)}`);
      }
      records = res.records;
    }
    report(workers === 0 ? 'verify, calling thread' : `verify, ${workers} workers`, ms, records, cpuUs);
  }
  if (values['skip-baselines']) {
    process.exit(0);
  }
  const segs = readdirSync(dir).filter((f) => f.startsWith('segment-')).map((f) => readFileSync(join(dir, f)));
  const stream = [];
  const streamCpu = [];
  const perLine = [];
  const perLineCpu = [];
  for (let r = 0; r < RUNS; r++) {
    const t = await timed(() => {
      for (const b of segs) {
        createHash('sha256').update(b).digest();
      }
    });
    stream.push(t.ms);
    streamCpu.push(t.cpuUs);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const node = Buffer.alloc(65, 1);
    for (const b of segs) {
      let start = 0;
      let prev = '';
      for (let nl = b.indexOf(10); nl >= 0; nl = b.indexOf(10, start)) {
        const leaf = hash('sha256', b.subarray(start, nl), 'binary');
        node.write(prev, 1, 32, 'latin1');
        node.write(leaf, 33, 32, 'latin1');
        hash('sha256', node, 'binary');
        prev = leaf;
        start = nl + 1;
      }
    }
    perLine.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    perLineCpu.push(c.user + c.system);
  }
  report('baseline: streaming SHA-256 over the segments', stream, records, streamCpu);
  report('baseline: leaf + node SHA-256 per line (one thread)', perLine, records, perLineCpu);
} finally {
  if (!values.keep) {
    rmSync(root, { recursive: true, force: true });
  }
}
