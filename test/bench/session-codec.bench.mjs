// Session frame codec: the precompiled codec (proto/src/session-codec.ts) against the generic protobufjs one
// (fromObject + encode, decode + toObject) on the frames P1 and P2 send. Build first (`npx tsc -b`), then run
// `node test/bench/session-codec.bench.mjs` from the repository root. Prints µs per frame, median of 7 rounds with
// the min–max range, and µs per event.
import { randomBytes } from 'node:crypto';

const load = await import(new URL('../../proto/dist/load.js', import.meta.url).href);
const fast = await import(new URL('../../proto/dist/session-codec.js', import.meta.url).href);

const req = load.agentMessageType('SessionRequest');
const res = load.agentMessageType('SessionResponse');
const generic = {
  encReq: load.genericSerializer(req),
  decReq: load.genericDeserializer(req),
  encRes: load.genericSerializer(res),
  decRes: load.genericDeserializer(res),
};

const mac = randomBytes(32);
const emit = (i) => ({ auth: { nonce: 1_000_000 + i, timestampMs: Date.now(), mac }, channel: 'bench.data', priority: 'PRIORITY_NORMAL', body: Buffer.from(`{"i":${i}}`) });
const event = (i) => ({ id: `evt-${1_000_000 + i}`, channel: 'bench.data', source: 'bench-sender', priority: 'PRIORITY_NORMAL', timestampMs: Date.now(), body: Buffer.from(`{"i":${i}}`) });
const frames = {
  'EmitBatch of 256': { n: 256, value: { emits: { emits: Array.from({ length: 256 }, (_, i) => emit(i)) } }, kind: 'req' },
  'EmitBatch of 1': { n: 1, value: { emits: { emits: [emit(1)] } }, kind: 'req' },
  'EventBatch of 256': { n: 256, value: { events: { events: Array.from({ length: 256 }, (_, i) => event(i)) } }, kind: 'res' },
  'EventBatch of 1': { n: 1, value: { events: { events: [event(1)] } }, kind: 'res' },
  'EmitAcks': { n: 256, value: { acks: { throughNonce: 1_000_255, rejected: [] } }, kind: 'res' },
};

function time(fn, iterations) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn();
  return Number(process.hrtime.bigint() - t0) / iterations / 1000;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const rows = [];
for (const [name, f] of Object.entries(frames)) {
  const enc = f.kind === 'req' ? [generic.encReq, fast.encodeSessionRequest] : [generic.encRes, fast.encodeSessionResponse];
  const dec = f.kind === 'req' ? [generic.decReq, fast.decodeSessionRequest] : [generic.decRes, fast.decodeSessionResponse];
  const bytes = enc[0](f.value);
  const iterations = Math.max(200, Math.floor(200_000 / (f.n * 4)));
  for (const [what, fns, arg] of [['encode', enc, f.value], ['decode', dec, bytes]]) {
    const samples = [[], []];
    for (let round = 0; round < 7; round++) {
      // Interleaved, so both see the same machine load.
      for (let k = 0; k < 2; k++) samples[k].push(time(() => fns[k](arg), iterations));
    }
    const [g, p] = samples.map((s) => ({ med: median(s), min: Math.min(...s), max: Math.max(...s) }));
    rows.push({ frame: name, op: what, bytes: bytes.length, generic: g, fast: p, n: f.n });
  }
}
const fmt = (x) => `${x.med.toFixed(2)} (${x.min.toFixed(2)}–${x.max.toFixed(2)})`;
console.log(`${'frame'.padEnd(18)} ${'op'.padEnd(7)} ${'bytes'.padStart(6)}  ${'generic µs/frame'.padEnd(24)} ${'precompiled µs/frame'.padEnd(24)} speed-up  µs/event generic → precompiled`);
for (const r of rows) {
  console.log(`${r.frame.padEnd(18)} ${r.op.padEnd(7)} ${String(r.bytes).padStart(6)}  ${fmt(r.generic).padEnd(24)} ${fmt(r.fast).padEnd(24)} ${(r.generic.med / r.fast.med).toFixed(1).padStart(6)} ×  ${(r.generic.med / r.n).toFixed(3)} → ${(r.fast.med / r.n).toFixed(3)}`);
}
