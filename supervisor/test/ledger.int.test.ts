import { appendFileSync, chmodSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import {
  generateLedgerKey,
  Ledger,
  ledgerStatus,
  loadLedgerKey,
  proveInclusion,
  queryLedger,
  readLedgerPublicKey,
  verifyInclusionProof,
  verifyLedger,
  type Checkpoint,
  type LedgerOptionsInput,
  type LedgerSigningKey,
} from '../src/ledger/index.js';
import { leafHash } from '../src/ledger/merkle.js';
import { encodeRecord, type LedgerRecord } from '../src/ledger/ledger-record.js';

const logger = pino({ level: 'silent' });

function tmp(): string {
  const dir = mkdtempSync('/tmp/eosd-');
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface Fixture {
  root: string;
  dir: string;
  key: LedgerSigningKey;
}

function fixture(): Fixture {
  const root = tmp();
  const key = generateLedgerKey(join(root, 'ledger.key'));
  return { root, dir: join(root, 'audit'), key };
}

async function openLedger(f: Fixture, opts: Partial<LedgerOptionsInput> = {}, key = f.key): Promise<Ledger> {
  const l = await Ledger.open({ dir: f.dir, origin: 'eosd/test/audit', create: true, ...opts }, { key, logger });
  onTestFinished(() => l.close());
  return l;
}

async function writeSample(f: Fixture, n: number, opts: Partial<LedgerOptionsInput> = {}): Promise<void> {
  const l = await openLedger(f, opts);
  await Promise.all(
    Array.from({ length: n }, (_, i) => l.append('agent.act', `agent-${i % 3}`, { i, action: 'send' }, { durable: i % 2 === 0 })),
  );
  await l.close();
}

function segLines(dir: string, n = 1): string[] {
  return readFileSync(join(dir, `segment-${String(n).padStart(6, '0')}.jsonl`), 'utf8').split('\n').slice(0, -1);
}

function writeSeg(dir: string, lines: string[], n = 1): void {
  const p = join(dir, `segment-${String(n).padStart(6, '0')}.jsonl`);
  chmodSync(p, 0o640);
  writeFileSync(p, lines.map((l) => `${l}\n`).join(''));
}

/** Re-links records from `from` on, as an attacker without the key can. */
function relink(lines: string[], from: number): string[] {
  const out = lines.slice();
  for (let i = Math.max(from, 1); i < out.length; i++) {
    const prevLeaf = leafHash(Buffer.from(out[i - 1] as string)).toString('hex');
    const r = JSON.parse(out[i] as string) as LedgerRecord;
    out[i] = encodeRecord({ ...r, seq: i, prev: prevLeaf });
  }
  return out;
}

describe('Ledger', () => {
  it('appends, checkpoints, closes and verifies offline with only the public key', async () => {
    const f = fixture();
    await writeSample(f, 100, { checkpointEveryRecords: 10 });
    const pub = readLedgerPublicKey(join(f.root, 'ledger.key.pub'));
    const res = await verifyLedger(f.dir, pub);
    expect(res).toMatchObject({ valid: true });
    // genesis + open + 100 + close
    expect(res.records).toBe(103);
    expect(res.checkpoints).toBeGreaterThanOrEqual(10);
    const st = ledgerStatus(f.dir, pub);
    expect(st).toMatchObject({ state: 'closed', headSize: 103, segments: 1 });
    expect(st.latestCheckpoint?.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('writes the key file 0400 and refuses a key readable by others', () => {
    const root = tmp();
    const path = join(root, 'ledger.key');
    generateLedgerKey(path);
    expect(statSync(path).mode & 0o777).toBe(0o400);
    expect(() => generateLedgerKey(path)).toThrow(expect.objectContaining({ code: 'EOS_ALREADY_EXISTS' }));
    chmodSync(path, 0o644);
    expect(() => loadLedgerKey(path)).toThrow(expect.objectContaining({ code: 'EOS_PERMISSION_DENIED' }));
    chmodSync(path, 0o400);
    expect(loadLedgerKey(path).publicKey.raw.length).toBe(32);
  });

  it('resolves a durable append only when the record is in the file, with contiguous seqs under concurrency', async () => {
    const f = fixture();
    const l = await openLedger(f);
    const results = await Promise.all(Array.from({ length: 500 }, (_, i) => l.append('agent.act', 'a', { i }, { durable: true })));
    const seqs = results.map((r) => r.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: 500 }, (_, i) => i + 2));
    const lines = segLines(f.dir);
    const last = results.at(-1)!;
    expect(leafHash(Buffer.from(lines[last.seq] as string)).toString('hex')).toBe(last.hash);
  });

  it('writes a batch of more records than one writev takes in order with one fdatasync, across a checkpoint, byte-exact for multi-byte UTF-8', async () => {
    const f = fixture();
    const syncs: number[] = [];
    const l = await Ledger.open(
      { dir: f.dir, origin: 'eosd/test/audit', create: true, checkpointEveryRecords: 1000 },
      { key: f.key, logger, onSync: (_s, records) => syncs.push(records) },
    );
    onTestFinished(() => l.close());
    await l.append('agent.act', 'a', { warmup: true }, { durable: true });
    syncs.length = 0;
    // 2,500 records appended in one synchronous run: 3 writev calls of up to 1,024 buffers, a checkpoint due at 1,000.
    const results = await Promise.all(
      Array.from({ length: 2500 }, (_, i) => l.append('agent.act', 'a', { i, text: `Grüße ${'🐪'.repeat(i % 5)} \u2028` }, { durable: true })),
    );
    expect(syncs).toEqual([2500]);
    await l.close();
    const lines = segLines(f.dir);
    for (const r of results) {
      expect(leafHash(Buffer.from(lines[r.seq] as string, 'utf8')).toString('hex')).toBe(r.hash);
    }
    expect(JSON.parse(lines[results[2499]!.seq] as string).payload).toEqual({ i: 2499, text: `Grüße ${'🐪'.repeat(4)} \u2028` });
    const res = await verifyLedger(f.dir, readLedgerPublicKey(join(f.root, 'ledger.key.pub')));
    expect(res).toMatchObject({ valid: true, records: 2504 });
    expect(res.checkpoints).toBeGreaterThanOrEqual(2);
  });

  it('checkpoint() called while a batch with a due checkpoint is being written resolves only once that checkpoint is persisted', async () => {
    const f = fixture();
    const l = await openLedger(f, { checkpointEveryRecords: 10 });
    await l.append('agent.act', 'a', { warmup: true }, { durable: true });
    await l.checkpoint();
    // Records up to the next checkpoint boundary in one run: the batch ends with the checkpoint that falls due.
    const appends = Array.from({ length: 10 }, (_, i) => l.append('agent.act', 'a', { i }, { durable: true }));
    // The drain starts on the next immediate; this one runs after it, while the batch's write is under way.
    const cp = await new Promise<Checkpoint>((resolve, reject) => setImmediate(() => void l.checkpoint().then(resolve, reject)));
    expect(cp.size).toBe(13);
    const persisted = readFileSync(join(f.dir, 'checkpoints.jsonl'), 'utf8')
      .split('\n')
      .filter((x) => x !== '')
      .map((x) => (JSON.parse(x) as { note: string }).note);
    expect(persisted).toContain(cp.note);
    await Promise.all(appends);
  });

  it('rejects payloads that carry raw secrets or non-JSON data, and reserved kinds', async () => {
    const f = fixture();
    const l = await openLedger(f);
    await expect(l.append('vault.read', 'a', { apiKey: 'sk-live-123' })).rejects.toMatchObject({ code: 'EOS_INVALID_ARGUMENT' });
    await expect(l.append('x.y', 'a', { n: Number.NaN })).rejects.toMatchObject({ code: 'EOS_INVALID_ARGUMENT' });
    await expect(l.append('ledger.genesis', null, {})).rejects.toMatchObject({ code: 'EOS_INVALID_ARGUMENT' });
    const ok = await l.append('vault.read', 'a', { apiKey: `sha256:${'a'.repeat(64)}` }, { durable: true });
    expect(ok.seq).toBe(2);
  });

  it('rotates segments by size with chain continuity, seals old segments 0440 and reopens', async () => {
    const f = fixture();
    await writeSample(f, 300, { maxSegmentBytes: 8 * 1024 });
    const segs = readdirSync(f.dir).filter((n) => n.startsWith('segment-'));
    expect(segs.length).toBeGreaterThan(3);
    expect(statSync(join(f.dir, segs[0] as string)).mode & 0o777).toBe(0o440);
    expect(await verifyLedger(f.dir, f.key.publicKey)).toMatchObject({ valid: true });
    const l = await openLedger(f, { maxSegmentBytes: 8 * 1024, create: false });
    await l.append('agent.act', 'a', { again: true }, { durable: true });
    await l.close();
    expect(await verifyLedger(f.dir, f.key.publicKey)).toMatchObject({ valid: true });
  });

  it('checkpoints on the timer when records arrived, and checkpoint() is a no-op without new records', async () => {
    const f = fixture();
    const exported: Checkpoint[] = [];
    const l = await Ledger.open(
      { dir: f.dir, create: true, checkpointIntervalMs: 30, groupCommitDelayMs: 1 },
      { key: f.key, logger, onCheckpoint: (cp) => exported.push(cp) },
    );
    onTestFinished(() => l.close());
    const first = await l.checkpoint();
    expect(await l.checkpoint()).toBe(first);
    await l.append('agent.act', 'a', { i: 1 });
    // onCheckpoint runs after the head is durable, so wait for it rather than for the head file (the
    // head is renamed into place a moment before the callback runs).
    await expect.poll(() => exported.at(-1)?.size, { timeout: 5_000 }).toBe(first.size + 1);
    expect(ledgerStatus(f.dir, f.key.publicKey).latestCheckpoint?.size).toBe(first.size + 1);
    expect(l.lastCheckpoint.size).toBe(first.size + 1);
    expect(exported.map((c) => c.size)).toEqual([first.size, first.size + 1]);
  });

  it('rotates segments by age using the injected clock', async () => {
    const f = fixture();
    let t = 1_000_000;
    const clock = { now: () => t };
    const l = await Ledger.open({ dir: f.dir, create: true, maxSegmentAgeMs: 60_000 }, { key: f.key, logger, clock });
    await l.append('agent.act', 'a', { i: 1 }, { durable: true });
    t += 61_000;
    await l.append('agent.act', 'a', { i: 2 }, { durable: true });
    await l.close();
    expect(readdirSync(f.dir).filter((n) => n.startsWith('segment-'))).toHaveLength(2);
    expect(segLines(f.dir, 2)[0]).toContain('"kind":"ledger.segment-start"');
    expect(await verifyLedger(f.dir, f.key.publicKey)).toMatchObject({ valid: true });
  });

  it('proves inclusion against the latest checkpoint, verifiable offline; a forged record fails', async () => {
    const f = fixture();
    await writeSample(f, 77);
    const proof = proveInclusion(f.dir, 41, f.key.publicKey);
    const note = ledgerStatus(f.dir, f.key.publicKey).latestCheckpoint!.note;
    expect(verifyInclusionProof(JSON.parse(JSON.stringify(proof)), note, f.key.publicKey.raw)).toMatchObject({ valid: true });
    const forged = { ...proof, record: proof.record.replace('"send"', '"wire"') };
    expect(verifyInclusionProof(forged, note, f.key.publicKey)).toMatchObject({ valid: false });
    const other = generateLedgerKey(join(f.root, 'other.key'));
    expect(verifyInclusionProof(proof, note, other.publicKey)).toMatchObject({ valid: false });
  });

  it('queries by agent, kind prefix and time', async () => {
    const f = fixture();
    let t = 1_000;
    const clock = { now: () => t++ };
    const l = await Ledger.open({ dir: f.dir, create: true, groupCommitDelayMs: 1 }, { key: f.key, logger, clock });
    for (let i = 0; i < 30; i++) {
      await l.append(i % 2 ? 'auth.rejected' : 'agent.act', `a${i % 3}`, { i });
    }
    await l.close();
    expect(queryLedger(f.dir, { agent: 'a1', kind: 'auth.' }).map((r) => (r.payload as { i: number }).i)).toEqual([1, 7, 13, 19, 25]);
    const ranged = queryLedger(f.dir, { kind: 'agent.act', since: 1_010, until: 1_020 });
    expect(ranged.every((r) => r.ts >= 1_010 && r.ts < 1_020 && r.kind === 'agent.act')).toBe(true);
    expect(queryLedger(f.dir, { limit: 3 })).toHaveLength(3);
  });
});

describe('Ledger tamper detection', () => {
  async function sample(): Promise<Fixture> {
    const f = fixture();
    await writeSample(f, 60, { checkpointEveryRecords: 16 });
    expect(await verifyLedger(f.dir, f.key.publicKey)).toMatchObject({ valid: true });
    return f;
  }

  async function expectRejected(f: Fixture, code: string): Promise<void> {
    const res = await verifyLedger(f.dir, f.key.publicKey);
    expect(res.valid).toBe(false);
    expect(res.error?.code).toBe(code);
    await expect(Ledger.open({ dir: f.dir }, { key: f.key, logger })).rejects.toMatchObject({ code });
  }

  it('detects an edited record', async () => {
    const f = await sample();
    const lines = segLines(f.dir);
    lines[20] = (lines[20] as string).replace('"send"', '"wire"');
    writeSeg(f.dir, lines);
    await expectRejected(f, 'EOS_LEDGER_TAMPERED');
  });

  it('detects an edited record even when the chain after it is re-linked', async () => {
    const f = await sample();
    const lines = segLines(f.dir);
    lines[20] = (lines[20] as string).replace('"send"', '"wire"');
    writeSeg(f.dir, relink(lines, 21));
    await expectRejected(f, 'EOS_LEDGER_TAMPERED');
  });

  it('detects a deleted record', async () => {
    const f = await sample();
    const lines = segLines(f.dir);
    lines.splice(30, 1);
    writeSeg(f.dir, lines);
    await expectRejected(f, 'EOS_LEDGER_TAMPERED');
  });

  it('detects two reordered records', async () => {
    const f = await sample();
    const lines = segLines(f.dir);
    [lines[10], lines[11]] = [lines[11] as string, lines[10] as string];
    writeSeg(f.dir, lines);
    await expectRejected(f, 'EOS_LEDGER_TAMPERED');
  });

  it('detects a truncated tail', async () => {
    const f = await sample();
    writeSeg(f.dir, segLines(f.dir).slice(0, 40));
    await expectRejected(f, 'EOS_LEDGER_REGRESSED');
  });

  it('detects an appended record that links correctly', async () => {
    const f = await sample();
    const lines = segLines(f.dir);
    const last = JSON.parse(lines.at(-1) as string) as LedgerRecord;
    lines.push(
      encodeRecord({ ...last, seq: last.seq + 1, kind: 'approval.granted', payload: { forged: true }, prev: leafHash(Buffer.from(lines.at(-1) as string)).toString('hex') }),
    );
    writeSeg(f.dir, lines);
    await expectRejected(f, 'EOS_LEDGER_TAMPERED');
  });

  it('detects a whole chain rewritten consistently without the signing key', async () => {
    const f = await sample();
    const lines = segLines(f.dir).map((l) => l.replace('"send"', '"wire"'));
    writeSeg(f.dir, relink(lines, 1));
    await expectRejected(f, 'EOS_LEDGER_TAMPERED');
    // …and re-signing checkpoints and head with the attacker's own key fails against the real key.
    const g = await sample();
    const attacker = generateLedgerKey(join(g.root, 'attacker.key'));
    const h = fixture();
    await writeSample({ ...h, key: attacker }, 60, { checkpointEveryRecords: 16 });
    rmSync(g.dir, { recursive: true });
    cpSync(h.dir, g.dir, { recursive: true });
    await expectRejected(g, 'EOS_LEDGER_TAMPERED');
  });

  it('detects a replaced checkpoint, even one signed by the same key for another ledger', async () => {
    const f = await sample();
    const other = { ...fixture(), key: f.key };
    await writeSample(other, 60, { checkpointEveryRecords: 16 });
    const mine = readFileSync(join(f.dir, 'checkpoints.jsonl'), 'utf8').split('\n');
    const theirs = readFileSync(join(other.dir, 'checkpoints.jsonl'), 'utf8').split('\n');
    mine[1] = theirs[1] as string;
    writeFileSync(join(f.dir, 'checkpoints.jsonl'), mine.join('\n'));
    await expectRejected(f, 'EOS_LEDGER_TAMPERED');
  });

  it('detects a segment spliced from another ledger signed by the same key', async () => {
    const opts = { maxSegmentBytes: 4 * 1024, checkpointEveryRecords: 16 };
    const f = fixture();
    await writeSample(f, 100, opts);
    const other = { ...fixture(), key: f.key };
    await writeSample(other, 100, opts);
    const seg = 'segment-000002.jsonl';
    chmodSync(join(f.dir, seg), 0o640);
    cpSync(join(other.dir, seg), join(f.dir, seg));
    await expectRejected(f, 'EOS_LEDGER_TAMPERED');
  });

  it('detects a deleted middle segment', async () => {
    const f = fixture();
    await writeSample(f, 100, { maxSegmentBytes: 4 * 1024 });
    rmSync(join(f.dir, 'segment-000002.jsonl'));
    await expectRejected(f, 'EOS_LEDGER_REGRESSED');
  });
});

describe('Ledger startup recovery', () => {
  it('truncates a torn tail after a crash, records what was dropped, and verifies', async () => {
    const f = fixture();
    const l = await openLedger(f, { checkpointEveryRecords: 1000 });
    for (let i = 0; i < 40; i++) {
      await l.append('agent.act', 'a', { i }, { durable: true });
    }
    // A crash image: everything durable so far, the head at the open checkpoint, then a torn write.
    const crashed = join(f.root, 'crashed');
    cpSync(f.dir, crashed, { recursive: true });
    appendFileSync(join(crashed, 'segment-000001.jsonl'), '{"agent":"a","kind":"agent.act","payl');
    const r = await Ledger.open({ dir: crashed }, { key: f.key, logger });
    await r.append('agent.act', 'a', { after: 'recovery' }, { durable: true });
    await r.close();
    const rec = queryLedger(crashed, { kind: 'ledger.recovery' });
    expect(rec).toHaveLength(1);
    expect(rec[0]?.payload).toMatchObject({ droppedBytes: 37, segment: 1 });
    const saved = (rec[0]?.payload as { savedAs: string }).savedAs;
    expect(readFileSync(join(crashed, saved), 'utf8')).toBe('{"agent":"a","kind":"agent.act","payl');
    expect(await verifyLedger(crashed, f.key.publicKey)).toMatchObject({ valid: true, records: 46 });
  });

  it('drops a garbage line after the head and keeps the records before it', async () => {
    const f = fixture();
    const l = await openLedger(f);
    for (let i = 0; i < 5; i++) {
      await l.append('agent.act', 'a', { i }, { durable: true });
    }
    const crashed = join(f.root, 'crashed');
    cpSync(f.dir, crashed, { recursive: true });
    appendFileSync(join(crashed, 'segment-000001.jsonl'), '\u0000\u0000garbage\n');
    const r = await Ledger.open({ dir: crashed }, { key: f.key, logger });
    await r.close();
    expect(queryLedger(crashed, { kind: 'agent.act' })).toHaveLength(5);
    expect(await verifyLedger(crashed, f.key.publicKey)).toMatchObject({ valid: true });
  });

  it('refuses a missing ledger unless created or overridden, and records the override', async () => {
    const f = fixture();
    await expect(Ledger.open({ dir: f.dir }, { key: f.key, logger })).rejects.toMatchObject({ code: 'EOS_LEDGER_REGRESSED' });
    const l = await Ledger.open({ dir: f.dir, acceptReset: true, resetReason: 'disk replaced, ticket 42' }, { key: f.key, logger });
    await l.close();
    const reset = queryLedger(f.dir, { kind: 'ledger.reset' });
    expect(reset[0]?.payload).toMatchObject({ override: 'accept-ledger-reset', code: 'EOS_LEDGER_REGRESSED', operatorReason: 'disk replaced, ticket 42' });
    expect(await verifyLedger(f.dir, f.key.publicKey)).toMatchObject({ valid: true });
  });

  it('refuses a regressed ledger (rolled back to an older copy); the override moves it aside and is recorded', async () => {
    const f = fixture();
    const l = await openLedger(f);
    await l.append('agent.act', 'a', { i: 1 }, { durable: true });
    await l.checkpoint();
    const old = join(f.root, 'old');
    cpSync(f.dir, old, { recursive: true });
    for (let i = 0; i < 10; i++) {
      await l.append('agent.act', 'a', { i }, { durable: true });
    }
    await l.close();
    // Roll the segment back to the older copy, keeping the newer head and checkpoints.
    cpSync(join(old, 'segment-000001.jsonl'), join(f.dir, 'segment-000001.jsonl'));
    await expect(Ledger.open({ dir: f.dir }, { key: f.key, logger })).rejects.toMatchObject({ code: 'EOS_LEDGER_REGRESSED' });
    rmSync(join(f.dir, 'ledger.head'));
    await expect(Ledger.open({ dir: f.dir }, { key: f.key, logger })).rejects.toMatchObject({ code: 'EOS_LEDGER_REGRESSED' });
    const r = await Ledger.open({ dir: f.dir, acceptReset: true }, { key: f.key, logger });
    const id = r.ledgerId;
    await r.close();
    const moved = readdirSync(f.dir).filter((n) => n.startsWith('rejected-'));
    expect(moved).toHaveLength(1);
    expect(existsSync(join(f.dir, moved[0] as string, 'segment-000001.jsonl'))).toBe(true);
    expect(queryLedger(f.dir, { kind: 'ledger.reset' })[0]?.payload).toMatchObject({ movedTo: moved[0] });
    expect(await verifyLedger(f.dir, f.key.publicKey)).toMatchObject({ valid: true });
    expect(ledgerStatus(f.dir, f.key.publicKey).ledgerId).toBe(id);
  });
});
