import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import { parseConfig } from '../src/config/load-config.js';
import { queryLedger } from '../src/ledger/index.js';
import { createServices, ledgerDirs, type SecurityServices } from '../src/services.js';

async function services(): Promise<{ s: SecurityServices; stateDir: string }> {
  const dir = await mkdtemp('/tmp/eosd-rec-');
  await chmod(dir, 0o700);
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const stateDir = join(dir, 'state');
  const s = await createServices({ config: parseConfig({ dev: true, stateDir, metrics: { listen: null } }, 'test', dir), logger: pino({ level: 'silent' }) });
  onTestFinished(() => s.close());
  return { s, stateDir };
}

describe('recordDecision payloads', () => {
  it('records what a JSON round trip of the payload gives, whether or not it is plain JSON data already', async () => {
    const { s, stateDir } = await services();
    const when = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
    const payloads: Record<string, unknown>[] = [
      { channel: 'a.b', eventId: 'e1', priority: 2, payloadSha256: 'f'.repeat(64) }, // the act path: plain, keys in order
      { z: [1, 'x', null, { y: true }], a: { nested: { deep: -0.5 } } },
      { skipped: undefined, kept: 1, list: [undefined, 2] }, // undefined: dropped in objects, null in arrays
      { when, nan: Number.NaN, inf: Number.POSITIVE_INFINITY }, // toJSON, non-finite numbers to null
      { custom: { toJSON: () => 'custom' } },
      Object.assign(Object.create(null) as Record<string, unknown>, { bare: 'object' }),
    ];
    for (const p of payloads) {
      await s.recordDecision('test.decision', 'a1', p);
    }
    const recorded = queryLedger(ledgerDirs(stateDir).decisions, { kind: 'test.decision' }).map((r) => r.payload);
    expect(recorded).toEqual(payloads.map((p) => JSON.parse(JSON.stringify(p)) as unknown));
  });

  it('keeps the record as it was at the call when the caller changes the payload afterwards', async () => {
    const { s, stateDir } = await services();
    const p = { channel: 'a.b', eventId: 'e1', nested: { n: 1 } };
    const done = s.recordDecision('test.decision', 'a1', p);
    p.channel = 'changed';
    p.nested.n = 2;
    await done;
    expect(queryLedger(ledgerDirs(stateDir).decisions, { kind: 'test.decision' }).map((r) => r.payload)).toEqual([{ channel: 'a.b', eventId: 'e1', nested: { n: 1 } }]);
  });

  it('still refuses secret-looking fields and over-deep payloads on the fast path', async () => {
    const { s } = await services();
    await expect(s.recordDecision('test.decision', 'a1', { apiKey: 'sk-live-123' })).rejects.toMatchObject({ code: 'EOS_INVALID_ARGUMENT' });
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 40; i++) {
      deep = { d: deep };
    }
    await expect(s.recordDecision('test.decision', 'a1', deep)).rejects.toMatchObject({ code: 'EOS_INVALID_ARGUMENT' });
  });
});
