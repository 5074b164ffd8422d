// Cost of a signed approval decision: Ed25519 verification alone (tweetnacl), and a full
// ApprovalManager round trip (open with a durable record → signed decide → durable record → release).
// Build first: npx tsc -b supervisor   then: node test/bench/approval-decision.bench.mjs
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const dist = new URL('../../supervisor/dist/approvals/', import.meta.url);
const { ApprovalManager } = await import(new URL('approval-manager.js', dist).href);
const { generateApproverKey, signDecision, verifyDecision } = await import(new URL('approval-signature.js', dist).href);
const { JsonlRecordSink } = await import(new URL('record-sink.js', dist).href);
const supRequire = createRequire(new URL('../../supervisor/package.json', import.meta.url));
const { pino } = await import(supRequire.resolve('pino'));

const N = Number(process.env.N ?? 500);
const WARMUP = 50;

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { median: q(0.5).toFixed(3), p10: q(0.1).toFixed(3), p90: q(0.9).toFixed(3), p99: q(0.99).toFixed(3) };
}

const key = generateApproverKey('bench');
const sk = Buffer.from(key.secretKey, 'base64');
const pk = Buffer.from(key.publicKey, 'base64');
const fields = { requestId: 'apr-000000000000000000000001', challenge: 'c'.repeat(43), decision: 'approve', approverKeyId: 'bench', timeMs: Date.now(), reason: '' };
const sig = signDecision(fields, sk);
const verify = [];
for (let i = 0; i < N + WARMUP; i++) {
  const t = performance.now();
  verifyDecision(fields, sig, pk);
  if (i >= WARMUP) verify.push(performance.now() - t);
}

const dir = await mkdtemp(process.env.BENCH_DIR ?? '/tmp/eosd-bench-');
const m = new ApprovalManager({
  approvers: [{ id: 'bench', publicKey: key.publicKey }],
  timeoutMs: 60_000,
  freshnessMs: 60_000,
  sink: new JsonlRecordSink(join(dir, 'ledger.jsonl')),
  log: pino({ level: 'silent' }),
});
const roundTrip = [];
const decideOnly = [];
for (let i = 0; i < N + WARMUP; i++) {
  const t0 = performance.now();
  const { view, outcome } = await m.open('act', `a${i % 8}`, 'bench', { channel: 'x.y' });
  const f = { requestId: view.id, challenge: view.challenge, decision: 'approve', approverKeyId: 'bench', timeMs: Date.now(), reason: '' };
  const s = signDecision(f, sk);
  const t1 = performance.now();
  await m.decide({ ...f, signature: s }, 'bench');
  await outcome;
  const t2 = performance.now();
  if (i >= WARMUP) {
    roundTrip.push(t2 - t0);
    decideOnly.push(t2 - t1);
  }
}
await m.close('bench done');
await rm(dir, { recursive: true, force: true });
console.log(JSON.stringify({ node: process.version, n: N, unit: 'ms', verifyOnly: stats(verify), decide: stats(decideOnly), openSignDecide: stats(roundTrip) }, null, 1));
