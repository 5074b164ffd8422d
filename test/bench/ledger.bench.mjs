// Ledger benchmark: durable appends/s with concurrent appenders, and offline verify records/s,
// each next to an in-run baseline on the same machine and disk.
//
//   npx tsc -b supervisor && node test/bench/ledger.bench.mjs [--records 1000000] [--appenders 16,64,256] [--dir /var/tmp]
//
// Baselines: (1) a raw loop of write + fdatasync per record on one fd (what a naive durable
// logger does); (2) SHA-256 over the same segment bytes (one streaming hash, and one hash per line).
import { createHash, hash } from 'node:crypto';
import { closeSync, fdatasyncSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { generateLedgerKey, Ledger, verifyLedger, verifyLedgerSync } from '../../supervisor/dist/ledger/index.js';

const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const RECORDS = Number(arg('records', '1000000'));
const APPENDERS = arg('appenders', '16,64,256').split(',').map(Number);
const DURABLE_SECONDS = Number(arg('seconds', '3'));
const BASE = arg('dir', '/var/tmp');
const WORKERS = arg('workers', '2').split(',').map(Number);
const SKIP_DURABLE = args.includes('--skip-durable');

const noop = () => undefined;
const logger = { child: () => logger, trace: noop, debug: noop, info: noop, warn: noop, error: noop, fatal: noop };

function payload(i) {
  return {
    action: 'http.post',
    channel: 'orders',
    inputHash: `sha256:${createHash('sha256').update(String(i)).digest('hex')}`,
    decision: 'allow',
    durationMs: i % 97,
  };
}

function fmt(n) {
  return Math.round(n).toLocaleString('en-US');
}

async function benchDurable(root, key, appenders) {
  const dir = join(root, `durable-${appenders}`);
  const ledger = await Ledger.open({ dir, create: true, origin: 'bench' }, { key, logger });
  let done = 0;
  let stop = false;
  const t0 = performance.now();
  setTimeout(() => {
    stop = true;
  }, DURABLE_SECONDS * 1000);
  const latencies = [];
  await Promise.all(
    Array.from({ length: appenders }, async (_, a) => {
      while (!stop) {
        const s = performance.now();
        await ledger.append('agent.act', `agent-${a}`, payload(done), { durable: true });
        latencies.push(performance.now() - s);
        done++;
      }
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  await ledger.close();
  const v = await verifyLedger(dir, key.publicKey);
  if (!v.valid) {
    throw new Error(`durable bench ledger does not verify: ${JSON.stringify(v.error)}`);
  }
  latencies.sort((x, y) => x - y);
  const p = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))].toFixed(2);
  return { appenders, rate: done / secs, p50: p(0.5), p99: p(0.99) };
}

function rawFsyncLoop(root) {
  const path = join(root, 'raw.jsonl');
  const fd = openSync(path, 'a');
  const line = Buffer.from(`${JSON.stringify({ v: 1, seq: 0, ts: Date.now(), kind: 'agent.act', agent: 'agent-1', payload: payload(1), prev: '0'.repeat(64) })}\n`);
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < DURABLE_SECONDS * 1000) {
    writeSync(fd, line);
    fdatasyncSync(fd);
    n++;
  }
  const secs = (performance.now() - t0) / 1000;
  closeSync(fd);
  return n / secs;
}

async function buildLarge(root, key) {
  const dir = join(root, 'large');
  const ledger = await Ledger.open(
    { dir, create: true, origin: 'bench', groupCommitMaxRecords: 4096, maxSegmentBytes: 256 * 1024 * 1024 },
    { key, logger },
  );
  const t0 = performance.now();
  const CHUNK = 10_000;
  for (let i = 0; i < RECORDS - 3; i += CHUNK) {
    const ps = [];
    for (let j = i; j < Math.min(i + CHUNK, RECORDS - 3); j++) {
      ps.push(ledger.append('agent.act', `agent-${j % 50}`, payload(j)));
    }
    await Promise.all(ps);
  }
  await ledger.close();
  return { dir, appendRate: RECORDS / ((performance.now() - t0) / 1000) };
}

async function bestAsync(n, fn) {
  let bestMs = Number.POSITIVE_INFINITY;
  let out;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    out = await fn();
    bestMs = Math.min(bestMs, performance.now() - t0);
  }
  return { ms: bestMs, out };
}

function best(n, fn) {
  let bestMs = Number.POSITIVE_INFINITY;
  let out;
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    out = fn();
    bestMs = Math.min(bestMs, performance.now() - t0);
  }
  return { ms: bestMs, out };
}

const root = mkdtempSync(join(BASE, 'eosd-ledger-bench-'));
try {
  const key = generateLedgerKey(join(root, 'ledger.key'));
  console.log(`node ${process.version}, dir ${root}`);

  const raw = SKIP_DURABLE ? 0 : rawFsyncLoop(root);
  if (!SKIP_DURABLE) console.log(`baseline raw write+fdatasync loop: ${fmt(raw)} records/s`);
  for (const a of SKIP_DURABLE ? [] : APPENDERS) {
    const r = await benchDurable(root, key, a);
    console.log(`durable appends, ${a} concurrent appenders: ${fmt(r.rate)} acts/s (p50 ${r.p50} ms, p99 ${r.p99} ms)`);
  }

  const { dir, appendRate } = await buildLarge(root, key);
  const segBytes = statSync(join(dir, 'segment-000001.jsonl')).size;
  console.log(`built ${fmt(RECORDS)} records (${(segBytes / 1e6).toFixed(1)} MB) via group commit at ${fmt(appendRate)} records/s`);

  const vs = best(3, () => verifyLedgerSync(dir, key.publicKey));
  if (!vs.out.valid) {
    throw new Error(`large ledger does not verify: ${JSON.stringify(vs.out.error)}`);
  }
  console.log(`verifyLedgerSync (one thread): ${fmt(vs.out.records)} records, ${vs.out.checkpoints} checkpoints in ${vs.ms.toFixed(0)} ms = ${fmt(vs.out.records / (vs.ms / 1000))} records/s`);
  for (const workers of WORKERS) {
    const v = await bestAsync(3, () => verifyLedger(dir, key.publicKey, { workers }));
    if (!v.out.valid || v.out.records !== vs.out.records || v.out.checkpoints !== vs.out.checkpoints) {
      throw new Error(`parallel and in-thread verification disagree: ${JSON.stringify(v.out)}`);
    }
    console.log(`verifyLedger, ${workers} worker threads: ${v.ms.toFixed(0)} ms = ${fmt(v.out.records / (v.ms / 1000))} records/s`);
  }

  const bytes = readFileSync(join(dir, 'segment-000001.jsonl'));
  const streamHash = best(3, () => createHash('sha256').update(bytes).digest());
  console.log(`baseline sha256 over the same ${(bytes.length / 1e6).toFixed(1)} MB in one stream: ${streamHash.ms.toFixed(0)} ms (${fmt(RECORDS / (streamHash.ms / 1000))} records/s equivalent)`);
  const perLine = best(3, () => {
    let start = 0;
    let n = 0;
    for (;;) {
      const nl = bytes.indexOf(10, start);
      if (nl < 0) break;
      hash('sha256', bytes.subarray(start, nl), 'buffer');
      start = nl + 1;
      n++;
    }
    return n;
  });
  console.log(`baseline sha256 per line over the same bytes: ${perLine.ms.toFixed(0)} ms (${fmt(perLine.out / (perLine.ms / 1000))} records/s)`);
  const floor = best(3, () => {
    // What any RFC 6962 verifier must hash: one leaf per line plus one interior node per line.
    const node = Buffer.alloc(65, 1);
    const first = bytes.indexOf(10);
    let prevLeaf = hash('sha256', Buffer.concat([Buffer.from([0]), bytes.subarray(0, first)]), 'binary');
    let start = first + 1;
    let n = 1;
    for (;;) {
      const nl = bytes.indexOf(10, start);
      if (nl < 0) break;
      const saved = bytes[start - 1];
      bytes[start - 1] = 0;
      const leaf = hash('sha256', bytes.subarray(start - 1, nl), 'binary');
      bytes[start - 1] = saved;
      node.write(prevLeaf, 1, 32, 'latin1');
      node.write(leaf, 33, 32, 'latin1');
      hash('sha256', node, 'binary');
      prevLeaf = leaf;
      start = nl + 1;
      n++;
    }
    return n;
  });
  console.log(`baseline leaf + node sha256 per line (digests as binary strings): ${floor.ms.toFixed(0)} ms (${fmt(floor.out / (floor.ms / 1000))} records/s)`);
  const parseOnly = best(3, () => {
    let start = 0;
    for (;;) {
      const nl = bytes.indexOf(10, start);
      if (nl < 0) break;
      JSON.parse(bytes.toString('utf8', start, nl));
      start = nl + 1;
    }
  });
  console.log(`reference JSON.parse per line only: ${parseOnly.ms.toFixed(0)} ms (${fmt(RECORDS / (parseOnly.ms / 1000))} records/s)`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
