import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { generateLedgerKey, Ledger, verifyLedgerSync, type LedgerSigningKey } from '../src/ledger/index.js';
import type { verifyLedger as verifyLedgerForTypes } from '../src/ledger/verify-ledger.js';

// Worker threads run compiled JS, so this suite compiles the supervisor to a temporary outDir and
// drives the parallel path from there, comparing it with the in-thread verifier.
type VerifyFn = typeof verifyLedgerForTypes;

const logger = pino({ level: 'silent' });
const SEG = (n: number): string => `segment-${String(n).padStart(6, '0')}.jsonl`;
let outDir: string;
let verifyParallel: VerifyFn;

beforeAll(async () => {
  // Inside the package, so the compiled modules resolve its dependencies.
  outDir = mkdtempSync(join(fileURLToPath(new URL('..', import.meta.url)), '.verify-dist-'));
  execFileSync('npx', ['tsc', '-p', 'supervisor', '--outDir', outDir], { stdio: 'pipe' });
  const mod = (await import(pathToFileURL(join(outDir, 'ledger', 'verify-ledger.js')).href)) as { verifyLedger: VerifyFn };
  verifyParallel = mod.verifyLedger;
}, 120_000);

afterAll(() => {
  rmSync(outDir, { recursive: true, force: true });
});

async function sample(): Promise<{ dir: string; key: LedgerSigningKey; root: string }> {
  const root = mkdtempSync('/tmp/eosd-');
  onTestFinished(() => rmSync(root, { recursive: true, force: true }));
  const key = generateLedgerKey(join(root, 'ledger.key'));
  const dir = join(root, 'audit');
  const l = await Ledger.open({ dir, create: true, checkpointEveryRecords: 97, maxSegmentBytes: 64 * 1024 }, { key, logger });
  await Promise.all(Array.from({ length: 1500 }, (_, i) => l.append('agent.act', `a${i % 7}`, { i, note: 'é✓' })));
  await l.close();
  return { dir, key, root };
}

const opts = { workers: 2, chunkBytes: 8 * 1024 };

async function both(dir: string, key: LedgerSigningKey): Promise<[unknown, unknown]> {
  const par = await verifyParallel(dir, key.publicKey, opts);
  const seq = verifyLedgerSync(dir, key.publicKey, { chunkBytes: 8 * 1024 });
  return [par, seq];
}

describe('verifyLedger on worker threads', () => {
  it('agrees with the in-thread verifier on a valid multi-segment ledger', async () => {
    const { dir, key } = await sample();
    const [par, seq] = await both(dir, key);
    // genesis + open + 1500 + close + one segment-start per rotation
    expect(par).toMatchObject({ valid: true, checkpoints: expect.any(Number) });
    expect((par as { records: number }).records).toBeGreaterThan(1503);
    expect(par).toEqual(seq);
    expect(verifyLedgerSync(dir, key.publicKey)).toEqual(seq);
  });

  it.each([
    ['an edited record', (d: string) => edit(d, 2, (ls) => ls.map((l, i) => (i === 30 ? l.replace('"i":', '"i":1') : l)))],
    ['a deleted record', (d: string) => edit(d, 2, (ls) => ls.filter((_, i) => i !== 40))],
    ['two reordered records', (d: string) => edit(d, 3, (ls) => [ls[0] as string, ls[2] as string, ls[1] as string, ...ls.slice(3)])],
    ['invalid UTF-8 inside a record', (d: string) => editBytes(d, 2, (b) => b.fill(0xff, 300, 301))],
    ['a truncated tail', (d: string) => edit(d, lastSegment(d), (ls) => ls.slice(0, -3))],
  ])('detects %s exactly like the in-thread verifier', async (_name, tamper) => {
    const { dir, key } = await sample();
    tamper(dir);
    const [par, seq] = await both(dir, key);
    expect(par).toMatchObject({ valid: false });
    expect(par).toEqual(seq);
  });

  it('detects a segment spliced from another ledger signed by the same key', async () => {
    const a = await sample();
    const b = await sample();
    chmodSync(join(a.dir, SEG(3)), 0o640);
    cpSync(join(b.dir, SEG(3)), join(a.dir, SEG(3)));
    const par = await verifyParallel(a.dir, a.key.publicKey, opts);
    expect(par).toMatchObject({ valid: false, error: { code: 'EOS_LEDGER_TAMPERED' } });
  });
});

function lastSegment(dir: string): number {
  let n = 1;
  while (existsSync(join(dir, SEG(n + 1)))) {
    n++;
  }
  return n;
}

function edit(dir: string, seg: number, f: (lines: string[]) => string[]): void {
  const p = join(dir, SEG(seg));
  const lines = readFileSync(p, 'utf8').split('\n').slice(0, -1);
  chmodSync(p, 0o640);
  writeFileSync(p, f(lines).map((l) => `${l}\n`).join(''));
}

function editBytes(dir: string, seg: number, f: (b: Buffer) => void): void {
  const p = join(dir, SEG(seg));
  const b = readFileSync(p);
  f(b);
  chmodSync(p, 0o640);
  writeFileSync(p, b);
}
