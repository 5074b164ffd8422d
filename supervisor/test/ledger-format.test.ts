import { isUtf8 } from 'node:buffer';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import canonicalizeModule from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../src/ledger/canonical-json.js';
import { isCanonicalJson } from '../src/ledger/canonical-scan.js';
import { checkpointGenesis, parseCheckpoint, signCheckpoint } from '../src/ledger/checkpoint-note.js';
import { ledgerKeyId, ledgerPublicKey, type LedgerSigningKey } from '../src/ledger/ledger-key.js';
import { assertAppendable, digestForLedger, encodeRecord, genesisPrev, parseRecordLine } from '../src/ledger/ledger-record.js';
import { EMPTY_ROOT, inclusionPath, leafHash, MerkleFrontier, merkleRoot, nodeHash, verifyInclusion } from '../src/ledger/merkle.js';

// canonicalize is CommonJS whose typings declare a default export; at runtime the import is the function.
const canonicalize = canonicalizeModule as unknown as (v: unknown) => string;

function sha(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  parts.forEach((p) => h.update(p));
  return h.digest();
}

function leaves(n: number): Buffer[] {
  return Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`record ${i}`)));
}

function testKey(): LedgerSigningKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url');
  return { publicKey: ledgerPublicKey(raw), sign: (m) => sign(null, m, privateKey) };
}

describe('merkle (RFC 6962)', () => {
  it('uses 0x00/0x01 domain separation', () => {
    const d = Buffer.from('abc');
    expect(leafHash(d)).toEqual(sha(Buffer.from([0]), d));
    const l = leafHash(Buffer.from('l'));
    const r = leafHash(Buffer.from('r'));
    expect(nodeHash(l, r)).toEqual(sha(Buffer.from([1]), l, r));
    expect(merkleRoot([])).toEqual(EMPTY_ROOT);
  });

  it('matches the RFC 6962 test vector root for the 8-leaf tree', () => {
    // Leaves from RFC 6962 reference test data (certificate-transparency merkle_tree_test).
    const data = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'];
    const ls = data.map((h) => leafHash(Buffer.from(h, 'hex')));
    expect(merkleRoot(ls).toString('hex')).toBe('5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328');
    expect(merkleRoot(ls, 0, 3).toString('hex')).toBe('aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77');
  });

  it('frontier root equals the recursive root at every size, and survives export/restore', () => {
    const ls = leaves(70);
    const f = new MerkleFrontier();
    for (let n = 1; n <= ls.length; n++) {
      f.push(ls[n - 1] as Buffer);
      expect(f.root()).toEqual(merkleRoot(ls, 0, n));
      const g = MerkleFrontier.restore(n, f.export());
      expect(g.root()).toEqual(f.root());
    }
    expect(() => MerkleFrontier.restore(5, [])).toThrow(RangeError);
  });

  it('inclusion proofs verify for every leaf of every size up to 33 and fail when altered', () => {
    const ls = leaves(33);
    for (let size = 1; size <= ls.length; size++) {
      const root = merkleRoot(ls, 0, size);
      for (let i = 0; i < size; i++) {
        const path = inclusionPath(ls, i, size);
        expect(verifyInclusion(ls[i] as Buffer, i, size, path, root)).toBe(true);
        expect(verifyInclusion(ls[(i + 1) % 33] as Buffer, i, size, path, root) && size > 1).toBe(false);
        if (path.length > 0) {
          expect(verifyInclusion(ls[i] as Buffer, i, size, path.slice(1), root)).toBe(false);
        }
      }
    }
    expect(verifyInclusion(ls[0] as Buffer, 3, 3, [], merkleRoot(ls, 0, 3))).toBe(false);
  });
});

describe('canonicalJson (RFC 8785)', () => {
  it('matches the canonicalize package on mixed data', () => {
    const samples: unknown[] = [
      { b: 1, a: [true, null, 'x'], c: { z: 1e21, y: -0, x: 0.1, w: 1e-7 } },
      { '\u20ac': 1, '\r': 2, 'é': 3, a: 'tab\tquote"slash\\u\u2028\ud83d\ude00' },
      [1, 'two', { three: [3] }],
      'lone',
      42,
    ];
    for (const s of samples) {
      expect(canonicalJson(s)).toBe(canonicalize(s));
    }
    expect(() => canonicalJson({ n: Number.POSITIVE_INFINITY })).toThrow(TypeError);
  });

  it('sorts keys by UTF-16 code units whether or not they arrive in order (integer-like keys, astral vs. BMP)', () => {
    const samples: Record<string, unknown>[] = [
      { a: 1, b: 2, c: { d: 3, e: 4 } }, // already in order: no sort needed
      { b: 2, a: 1 },
      { 9: 'nine', 10: 'ten', a: 'a' }, // Object.keys lists integer keys first, numerically: '9' before '10'
      { '\ud83d\ude00': 1, '\uffff': 2 }, // U+1F600 sorts before U+FFFF by code units, after it by code points
      { '\uffff': 2, '\ud83d\ude00': 1 },
      { aa: 1, a: 2, '': 3, A: 4 },
      { x: 1, x2: 2, x10: 3 },
    ];
    for (const s of samples) {
      expect(canonicalJson(s)).toBe(canonicalize(s));
    }
  });
});

function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const CHARS = ['a', 'Z', '0', '"', '\\', '/', '\n', '\t', '\b', '\u0001', '\u001f', '\u007f', 'é', '\u2028', '\ud83d\ude00', '\ud800', '\udc00', '€', ' '];
const NUMBERS = [0, -0, 1, -1, 42, 0.1, 1e21, 1e-7, 123.456, -5e-324, 2 ** 53, 1.5e300];

function randomJson(rnd: () => number, depth: number): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const str = (): string => Array.from({ length: Math.floor(rnd() * 5) }, () => pick(CHARS)).join('');
  const r = rnd();
  if (depth > 3 || r < 0.3) {
    return pick<unknown>([null, true, false, pick(NUMBERS), str(), Math.floor(rnd() * 1e6)]);
  }
  if (r < 0.6) {
    return Array.from({ length: Math.floor(rnd() * 4) }, () => randomJson(rnd, depth + 1));
  }
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(rnd() * 5); i > 0; i--) {
    o[rnd() < 0.2 ? String(Math.floor(rnd() * 20)) : str()] = randomJson(rnd, depth + 1);
  }
  return o;
}

function referenceCanonical(text: string): boolean {
  // What lands on disk is UTF-8: a lone surrogate in a JS string becomes U+FFFD bytes.
  const bytes = Buffer.from(text, 'utf8');
  const decoded = bytes.toString('utf8');
  try {
    return isUtf8(bytes) && canonicalJson(JSON.parse(decoded)) === decoded;
  } catch {
    // Not JSON at all, so not canonical JSON.
    return false;
  }
}

describe('canonical scanner', () => {
  it('agrees with parse + JCS re-serialisation on 1,000 random documents and their mutations', () => {
    const rnd = prng(8785);
    const mutationChars = ['"', '\\', ',', ':', '{', '}', '[', ']', ' ', '0', '-', 'e', '.', 'u', 'a', '\ud800'];
    for (let n = 0; n < 1000; n++) {
      const v = randomJson(rnd, 0);
      const canon = canonicalJson(v);
      expect(isCanonicalJson(canon), canon).toBe(true);
      const variants = [JSON.stringify(v), JSON.stringify(v, null, 1), `${canon} `];
      for (let k = 0; k < 6; k++) {
        const at = Math.floor(rnd() * (canon.length + 1));
        const op = rnd();
        const ch = mutationChars[Math.floor(rnd() * mutationChars.length)] as string;
        variants.push(op < 0.33 ? canon.slice(0, at) + ch + canon.slice(at) : op < 0.66 ? canon.slice(0, at) + canon.slice(at + 1) : canon.slice(0, at) + ch + canon.slice(at + 1));
      }
      for (const m of variants) {
        expect(isCanonicalJson(m), m).toBe(referenceCanonical(m));
      }
    }
  });

  it('accepts integer-like keys in code-unit order and rejects duplicates and non-minimal forms', () => {
    expect(isCanonicalJson('{"10":1,"2":2}')).toBe(true);
    expect(isCanonicalJson('{"2":2,"10":1}')).toBe(false);
    expect(isCanonicalJson('{"a":1,"a":1}')).toBe(false);
    expect(isCanonicalJson('"\\u0041"')).toBe(false);
    expect(isCanonicalJson('"\\/"')).toBe(false);
    expect(isCanonicalJson('1.0')).toBe(false);
    expect(isCanonicalJson('-0')).toBe(false);
    expect(isCanonicalJson('1e+21')).toBe(true);
  });

  it('rejects invalid UTF-8 and raw control characters', () => {
    expect(isCanonicalJson(Buffer.from([0x22, 0xc3, 0x28, 0x22]))).toBe(false);
    expect(isCanonicalJson(Buffer.from([0x22, 0xed, 0xa0, 0x80, 0x22]))).toBe(false);
    expect(isCanonicalJson(Buffer.from('"a\u0001"'))).toBe(false);
  });
});

describe('ledger records', () => {
  const rec = { v: 1, seq: 0, ts: 5, kind: 'ledger.genesis', agent: null, payload: { ledgerId: 'L', origin: 'o/L' }, prev: genesisPrev('L') } as const;

  it('round-trips a canonical record and rejects non-canonical or malformed lines', () => {
    const line = encodeRecord(rec);
    expect(parseRecordLine(line)).toMatchObject({ ok: true, record: rec });
    expect(parseRecordLine(line.replace('"v":1', '"v":2'))).toMatchObject({ ok: false });
    expect(parseRecordLine(line.replace(rec.prev, rec.prev.toUpperCase()))).toMatchObject({ ok: false });
    expect(parseRecordLine(line.replace('"seq":0', '"seq":00'))).toMatchObject({ ok: false });
    expect(parseRecordLine(line.replace('"ts":5', '"ts":-5'))).toMatchObject({ ok: false });
    expect(parseRecordLine(line.replace('"ts":5', '"ts":5.5'))).toMatchObject({ ok: false });
    expect(parseRecordLine(JSON.stringify(rec))).toMatchObject({ ok: false });
    expect(parseRecordLine(line.replace('"v":1', '"v":1,"x":2'))).toMatchObject({ ok: false });
    expect(parseRecordLine(line.slice(0, -3))).toMatchObject({ ok: false });
  });

  it('binds the genesis prev to the ledger id', () => {
    expect(genesisPrev('a')).not.toBe(genesisPrev('b'));
    expect(genesisPrev('a')).toBe(sha(Buffer.from('eosd-ledger-v1\0a')).toString('hex'));
  });

  it('refuses secret-looking fields unless they hold a digest', () => {
    expect(() => assertAppendable('vault.read', 'a', { password: 'hunter2' })).toThrow(expect.objectContaining({ code: 'EOS_INVALID_ARGUMENT' }));
    expect(() => assertAppendable('vault.read', 'a', { nested: [{ Authorization: 'Bearer x' }] })).toThrow(
      expect.objectContaining({ code: 'EOS_INVALID_ARGUMENT' }),
    );
    expect(() => assertAppendable('vault.read', 'a', { password: digestForLedger('hunter2') })).not.toThrow();
    // Token counts and credential flags are not secrets (the LLM gateway and the vault audit them).
    expect(() => assertAppendable('model.call', 'a', { inputTokens: 12, outputTokens: 7, hasCredential: true })).not.toThrow();
    expect(() => assertAppendable('model.call', 'a', { inputTokens: '12' })).toThrow(expect.objectContaining({ code: 'EOS_INVALID_ARGUMENT' }));
    expect(() => assertAppendable('Bad Kind', 'a', {})).toThrow(expect.objectContaining({ code: 'EOS_INVALID_ARGUMENT' }));
    expect(() => assertAppendable('x.y', 'a', { d: new Date() })).toThrow(expect.objectContaining({ code: 'EOS_INVALID_ARGUMENT' }));
  });
});

describe('checkpoint notes (C2SP signed note)', () => {
  const key = testKey();
  const fields = { origin: 'eosd/test/L', size: 10, root: Buffer.alloc(32, 7), prev: checkpointGenesis('L'), time: 1000 };

  it('uses the C2SP Ed25519 key id and verifies', () => {
    expect(key.publicKey.keyId).toEqual(sha(Buffer.from('eosd-ledger\n\x01'), key.publicKey.raw).subarray(0, 4));
    expect(ledgerKeyId(key.publicKey.raw)).toEqual(key.publicKey.keyId);
    const cp = signCheckpoint(key, fields);
    expect(cp.note).toMatch(/^eosd\/test\/L\n10\n[A-Za-z0-9+/=]{44}\nprev [0-9a-f]{64}\ntime 1000\n\n\u2014 eosd-ledger [A-Za-z0-9+/=]+\n$/);
    expect(parseCheckpoint(cp.note, key.publicKey)).toMatchObject({ ok: true, checkpoint: { size: 10, hash: cp.hash } });
  });

  it('rejects an edited body, another key, and a note without our signature; ignores unknown signers', () => {
    const cp = signCheckpoint(key, fields);
    expect(parseCheckpoint(cp.note.replace('\n10\n', '\n11\n'), key.publicKey)).toMatchObject({ ok: false });
    expect(parseCheckpoint(cp.note, testKey().publicKey)).toMatchObject({ ok: false });
    const unsigned = cp.note.slice(0, cp.note.indexOf('\n\n') + 2) + '\u2014 someone-else AAAA\n';
    expect(parseCheckpoint(unsigned, key.publicKey)).toMatchObject({ ok: false });
    expect(parseCheckpoint(`${cp.note}\u2014 witness AAAA\n`, key.publicKey)).toMatchObject({ ok: true });
  });
});
