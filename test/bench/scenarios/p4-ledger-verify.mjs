// P4: offline verify rate of a 1M-record ledger (canonical form, links, checkpoints, Merkle roots,
// head) against a raw SHA-256 over the same segment bytes.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { generateLedgerKey, Ledger, verifyLedger } from '../../../supervisor/dist/ledger/index.js';
import { summary } from '../lib/stats.mjs';

export const id = 'p4';
export const title = 'ledger verify rate on 1M records';

const RECORDS = 1_000_000;
const noop = () => undefined;
const logger = { child: () => logger, trace: noop, debug: noop, info: noop, warn: noop, error: noop, fatal: noop };

export async function run(opts) {
  const root = mkdtempSync('/tmp/eosd-bench-ledger-');
  try {
    const key = generateLedgerKey(join(root, 'ledger.key'));
    const dir = join(root, 'ledger');
    const ledger = await Ledger.open({ dir, create: true, origin: 'bench', groupCommitMaxRecords: 4096, maxSegmentBytes: 256 * 1024 * 1024, checkpointEveryRecords: 100_000 }, { key, logger });
    for (let i = 0; i < RECORDS - 3; i += 10_000) {
      const ps = [];
      for (let j = i; j < Math.min(i + 10_000, RECORDS - 3); j++) {
        ps.push(ledger.append('agent.act', `agent-${j % 50}`, { channel: 'orders', payloadSha256: createHash('sha256').update(String(j)).digest('hex'), n: j }));
      }
      await Promise.all(ps);
    }
    await ledger.close();
    const segments = readdirSync(dir).filter((f) => f.startsWith('segment-')).map((f) => readFileSync(join(dir, f)));
    const verify = [];
    const raw = [];
    let records = 0;
    for (let r = 0; r < Math.max(1, Math.min(opts.repeats, 3)); r++) {
      let t0 = performance.now();
      const res = await verifyLedger(dir, key.publicKey);
      const secs = (performance.now() - t0) / 1000;
      if (!res.valid) {
        throw new Error(`ledger did not verify: ${JSON.stringify(res.error)}`);
      }
      records = res.records;
      verify.push(res.records / secs);
      t0 = performance.now();
      for (const buf of segments) {
        createHash('sha256').update(buf).digest();
      }
      raw.push(records / ((performance.now() - t0) / 1000));
    }
    const v = summary(verify);
    const b = summary(raw);
    return {
      metrics: { verifyRecordsPerSec: { ...v, unit: 'records/s' } },
      baselines: { rawSha256: { ...b, unit: 'records/s', what: 'one streaming SHA-256 over the same segment bytes' } },
      ratios: { vsRawSha256: v.median / b.median },
      goals: [{ text: '>= 500,000 records/s', pass: v.median >= 500_000 }],
      notes: [`${records} records; verifyLedger with worker threads (one per core)`],
    };
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
