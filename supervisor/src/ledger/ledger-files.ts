import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, writeSync, constants as fsc } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { canonicalJson } from './canonical-json.js';
import type { LedgerPublicKey, LedgerSigningKey } from './ledger-key.js';

/** Signed head file name inside a ledger directory. */
export const HEAD_FILE = 'ledger.head';
/** Checkpoints file name (one `{"note": …}` JSON line per checkpoint). */
export const CHECKPOINTS_FILE = 'checkpoints.jsonl';
const SEGMENT_PATTERN = /^segment-(\d{6,})\.jsonl$/;
const HEAD_DOMAIN = 'eosd-ledger-head-v1\n';

/** File name of segment number `n` (1-based). */
export function segmentName(n: number): string {
  return `segment-${String(n).padStart(6, '0')}.jsonl`;
}

/** Segment numbers present in `dir`, ascending. */
export function listSegments(dir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync(dir)) {
    const m = SEGMENT_PATTERN.exec(name);
    if (m) {
      out.push(Number(m[1]));
    }
  }
  return out.sort((a, b) => a - b);
}

/** fsync a directory so creates and renames inside it are durable. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `data` to `path` atomically: temp file, fsync, rename, directory fsync. */
export function writeFileAtomic(dir: string, name: string, data: string): void {
  const tmp = join(dir, `.${name}.tmp`);
  const fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC, 0o640);
  try {
    const buf = Buffer.from(data, 'utf8');
    let off = 0;
    while (off < buf.length) {
      off += writeSync(fd, buf, off, buf.length - off);
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, name));
  fsyncDir(dir);
}

/** The signed head: where the ledger stood at its latest checkpoint. */
export interface LedgerHead {
  readonly v: 1;
  readonly ledgerId: string;
  readonly origin: string;
  /** `closed` after a clean shutdown: no record may follow. */
  readonly state: 'open' | 'closed';
  /** Records covered (= latest checkpoint size). */
  readonly size: number;
  /** Hex leaf hash of record `size - 1`. */
  readonly hash: string;
  /** Segment holding record `size - 1` and the byte offset just past it. */
  readonly segment: number;
  readonly offset: number;
  /** Merkle frontier at `size` (hex, largest subtree first). */
  readonly frontier: readonly string[];
  /** Hex hash of the latest checkpoint note. */
  readonly checkpoint: string;
  readonly time: number;
}

function signedHead(head: LedgerHead, key: LedgerSigningKey): string {
  const body = canonicalJson(head);
  const sig = key.sign(Buffer.from(HEAD_DOMAIN + body, 'utf8')).toString('base64');
  return `${canonicalJson({ head, sig })}\n`;
}

/** Signs and atomically replaces the head file. */
export function writeHead(dir: string, head: LedgerHead, key: LedgerSigningKey): void {
  writeFileAtomic(dir, HEAD_FILE, signedHead(head, key));
}

/** {@link writeHead} without blocking the event loop: temp file, fsync, rename, directory fsync. */
export async function writeHeadAsync(dir: string, head: LedgerHead, key: LedgerSigningKey): Promise<void> {
  const tmp = join(dir, `.${HEAD_FILE}.tmp`);
  const fh = await open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC, 0o640);
  try {
    await fh.writeFile(signedHead(head, key), 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, HEAD_FILE));
  const dh = await open(dir, 'r');
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** Result of {@link readHead}. */
export type HeadRead = { status: 'missing' } | { status: 'invalid'; reason: string } | { status: 'ok'; head: LedgerHead };

/** Reads and verifies the head file's signature. */
export function readHead(dir: string, publicKey: LedgerPublicKey): HeadRead {
  let text: string;
  try {
    text = readFileSync(join(dir, HEAD_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return { status: 'missing' };
    }
    throw err;
  }
  let parsed: { head?: LedgerHead; sig?: unknown };
  try {
    parsed = JSON.parse(text) as { head?: LedgerHead; sig?: unknown };
  } catch (err) {
    return { status: 'invalid', reason: `head is not JSON: ${(err as Error).message}` };
  }
  const { head, sig } = parsed;
  if (typeof head !== 'object' || head === null || typeof sig !== 'string') {
    return { status: 'invalid', reason: 'head file is malformed' };
  }
  const body = canonicalJson(head);
  if (!publicKey.verify(Buffer.from(HEAD_DOMAIN + body, 'utf8'), Buffer.from(sig, 'base64'))) {
    return { status: 'invalid', reason: 'head signature does not verify' };
  }
  if (
    head.v !== 1 ||
    !Number.isSafeInteger(head.size) ||
    !Number.isSafeInteger(head.segment) ||
    !Number.isSafeInteger(head.offset) ||
    !Array.isArray(head.frontier)
  ) {
    return { status: 'invalid', reason: 'head fields do not match the v1 schema' };
  }
  return { status: 'ok', head };
}

/** Parses the checkpoints file into note texts (one per line). */
export function readCheckpointNotes(dir: string): { notes: string[]; error?: string } {
  let text: string;
  try {
    text = readFileSync(join(dir, CHECKPOINTS_FILE), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return { notes: [] };
    }
    throw err;
  }
  const notes: string[] = [];
  const lines = text.split('\n');
  const last = lines.pop();
  if (last !== '') {
    return { notes, error: 'checkpoints file does not end with a newline (torn write)' };
  }
  for (const [i, line] of lines.entries()) {
    try {
      const obj = JSON.parse(line) as { note?: unknown };
      if (typeof obj.note !== 'string' || Object.keys(obj).length !== 1) {
        return { notes, error: `checkpoint line ${i + 1} is malformed` };
      }
      notes.push(obj.note);
    } catch (err) {
      return { notes, error: `checkpoint line ${i + 1} is not JSON: ${(err as Error).message}` };
    }
  }
  return { notes };
}
