import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { checkpointGenesis, parseCheckpoint, type Checkpoint } from './checkpoint-note.js';
import { ledgerPublicKey, type LedgerPublicKey } from './ledger-key.js';
import { listSegments, readCheckpointNotes, readHead, segmentName, type LedgerHead } from './ledger-files.js';
import { genesisPrev, SYSTEM_KINDS } from './ledger-record.js';
import { MerkleFrontier } from './merkle.js';
import type { ScanBuffer } from './segment-scanner.js';
import { verifyChunk, type ChunkResult, type ChunkTask, type RangeNode } from './verify-chunk.js';

/** Where and why verification failed. */
export interface LedgerVerifyError {
  /** `EOS_LEDGER_TAMPERED` (content fails checks) or `EOS_LEDGER_REGRESSED` (missing or shorter than signed). */
  readonly code: 'EOS_LEDGER_TAMPERED' | 'EOS_LEDGER_REGRESSED';
  readonly reason: string;
  readonly segment?: number;
  readonly offset?: number;
  readonly seq?: number;
}

/** Result of {@link verifyLedger}; the shape `eosd ledger verify --json` prints. */
export interface LedgerVerifyResult {
  readonly valid: boolean;
  /** Records that passed the chain checks. */
  readonly records: number;
  /** Checkpoints whose signature and Merkle root were verified. */
  readonly checkpoints: number;
  /** Records after the signed head (written since the last checkpoint of a ledger that did not shut down cleanly). */
  readonly unanchored?: number;
  readonly error?: LedgerVerifyError;
}

/** Options of {@link verifyLedger}. */
export interface VerifyOptions {
  /**
   * Worker threads for record checks and hashing (0 = verify in the calling thread). Each worker
   * pays a cold JIT (tens of ms), so small ledgers are verified in the calling thread.
   * @defaultValue min(availableParallelism(), 4) when there are 2+ cores and at least
   * {@link PARALLEL_MIN_CHUNKS} chunks, else 0; 0 when the compiled worker script is not present
   */
  readonly workers?: number;
  /** Bytes per work unit (newline-aligned). @defaultValue 4 MiB */
  readonly chunkBytes?: number;
  /** Stop at the signed head (startup uses this, then checks and recovers the tail itself). */
  readonly stopAtHead?: boolean;
}

type PublicKeyInput = LedgerPublicKey | Uint8Array | string;

const CHUNK_BYTES = 4 * 1024 * 1024;
/** Fewest chunks (of 4 MiB) for which worker threads are used by default: below that their start-up cost dominates. */
export const PARALLEL_MIN_CHUNKS = 4;
const WORKER_URL = new URL('./verify-worker.js', import.meta.url);

interface Plan {
  readonly head: LedgerHead;
  readonly cps: Checkpoint[];
  readonly tasks: { segment: number; task: ChunkTask }[];
}

type Prepared = { ok: true; plan: Plan } | { ok: false; result: LedgerVerifyResult };

function fail(code: LedgerVerifyError['code'], reason: string, records = 0, checkpoints = 0, at: Partial<LedgerVerifyError> = {}): LedgerVerifyResult {
  return { valid: false, records, checkpoints, error: { code, reason, ...at } };
}

function nextNewline(path: string, from: number, limit: number): number {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(64 * 1024);
    let off = from;
    while (off < limit) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, limit - off), off);
      if (n === 0) {
        break;
      }
      const i = buf.subarray(0, n).indexOf(10);
      if (i >= 0) {
        return off + i + 1;
      }
      off += n;
    }
    return limit;
  } finally {
    closeSync(fd);
  }
}

/** Reads and checks head and checkpoints, and splits the segments into newline-aligned chunks. */
function prepare(dir: string, pk: LedgerPublicKey, stopAtHead: boolean, chunkBytes = CHUNK_BYTES): Prepared {
  const headRead = readHead(dir, pk);
  if (headRead.status === 'missing') {
    return { ok: false, result: fail('EOS_LEDGER_REGRESSED', 'head file is missing') };
  }
  if (headRead.status === 'invalid') {
    return { ok: false, result: fail('EOS_LEDGER_TAMPERED', headRead.reason) };
  }
  const head = headRead.head;
  const { notes, error: cpFileError } = readCheckpointNotes(dir);
  if (cpFileError !== undefined) {
    return { ok: false, result: fail('EOS_LEDGER_TAMPERED', cpFileError) };
  }
  const cps: Checkpoint[] = [];
  for (const [i, note] of notes.entries()) {
    const parsed = parseCheckpoint(note, pk);
    if (!parsed.ok) {
      return { ok: false, result: fail('EOS_LEDGER_TAMPERED', `checkpoint ${i}: ${parsed.reason}`) };
    }
    const cp = parsed.checkpoint;
    const prev = cps[i - 1];
    if (cp.origin !== head.origin) {
      return { ok: false, result: fail('EOS_LEDGER_TAMPERED', `checkpoint ${i} has origin ${cp.origin}, the head says ${head.origin}`) };
    }
    if (prev === undefined ? cp.prev !== checkpointGenesis(head.ledgerId) : cp.prev !== prev.hash) {
      return { ok: false, result: fail('EOS_LEDGER_TAMPERED', `checkpoint ${i} does not link to the previous checkpoint`) };
    }
    if (prev !== undefined && (cp.size < prev.size || cp.time < prev.time)) {
      return { ok: false, result: fail('EOS_LEDGER_TAMPERED', `checkpoint ${i} goes back in size or time`) };
    }
    cps.push(cp);
  }
  const headCpIndex = cps.findIndex((cp) => cp.hash === head.checkpoint);
  if (headCpIndex < 0) {
    const code = cps.length === 0 ? 'EOS_LEDGER_REGRESSED' : 'EOS_LEDGER_TAMPERED';
    return { ok: false, result: fail(code, 'the checkpoint named by the head is missing') };
  }
  if (headCpIndex !== cps.length - 1 && head.state === 'closed') {
    return { ok: false, result: fail('EOS_LEDGER_TAMPERED', 'checkpoints follow the head of a cleanly closed ledger') };
  }
  if ((cps[headCpIndex] as Checkpoint).size !== head.size) {
    return { ok: false, result: fail('EOS_LEDGER_TAMPERED', 'head size differs from its checkpoint size') };
  }
  const segments = listSegments(dir);
  if (segments.length === 0) {
    return { ok: false, result: fail('EOS_LEDGER_REGRESSED', 'no segment files') };
  }
  for (const [i, n] of segments.entries()) {
    if (n !== i + 1) {
      return { ok: false, result: fail('EOS_LEDGER_REGRESSED', `segment ${i + 1} is missing`, 0, 0, { segment: i + 1 }) };
    }
  }
  const cpSizes = cps.map((c) => c.size);
  const tasks: Plan['tasks'] = [];
  for (const n of segments) {
    if (stopAtHead && n > head.segment) {
      break;
    }
    const path = join(dir, segmentName(n));
    const size = statSync(path).size;
    const limit = stopAtHead && n === head.segment ? Math.min(size, head.offset) : size;
    let start = 0;
    do {
      const end = start + chunkBytes >= limit ? limit : nextNewline(path, start + chunkBytes, limit);
      tasks.push({ segment: n, task: { path, start, end, cpSizes, headSize: head.size } });
      start = end;
    } while (start < limit);
  }
  return { ok: true, plan: { head, cps, tasks } };
}

function toBuffer(digest: string): Buffer {
  return Buffer.from(digest, 'latin1');
}

function withRange(frontier: MerkleFrontier, nodes: readonly RangeNode[]): MerkleFrontier {
  for (const n of nodes) {
    frontier.pushSubtree(toBuffer(n.hash), n.level);
  }
  return frontier;
}

/** Checks the chunks in order: boundaries, genesis and segment rules, checkpoint roots, the head. */
function merge(plan: Plan, results: readonly ChunkResult[], stopAtHead: boolean): LedgerVerifyResult {
  const { head, cps, tasks } = plan;
  const frontier = new MerkleFrontier();
  let size = 0;
  let lastHash = '';
  let cpNext = 0;
  let verified = 0;
  let headSeen = false;
  const checkCps = (at: number, ranges: ChunkResult['cpRanges']): string | null => {
    while (cpNext < cps.length && (cps[cpNext] as Checkpoint).size <= at) {
      const cp = cps[cpNext] as Checkpoint;
      const range = cp.size === size ? [] : ranges.find((r) => r.size === cp.size)?.nodes;
      if (range === undefined || !withRange(frontier.clone(), range).root().equals(cp.root)) {
        return `checkpoint ${cpNext} root does not match the records`;
      }
      cpNext++;
      verified++;
    }
    return null;
  };
  const early = checkCps(0, []);
  if (early !== null) {
    return fail('EOS_LEDGER_TAMPERED', early);
  }
  for (const [i, { segment, task }] of tasks.entries()) {
    const r = results[i] as ChunkResult;
    const at = { segment, offset: task.start, seq: size };
    if (r.count > 0) {
      let reason: string | null = null;
      const p = r.firstPayload as { ledgerId?: unknown; origin?: unknown; segment?: unknown } | null;
      if (r.firstSeq !== size) {
        reason = `expected seq ${size}, found ${r.firstSeq}`;
      } else if (size === 0) {
        if (r.firstKind !== SYSTEM_KINDS.genesis || typeof p?.ledgerId !== 'string' || typeof p.origin !== 'string') {
          reason = 'first record is not a ledger.genesis record';
        } else if (r.firstPrev !== genesisPrev(p.ledgerId)) {
          reason = 'genesis record is not bound to its ledger id';
        } else if (p.ledgerId !== head.ledgerId || p.origin !== head.origin) {
          reason = 'genesis record names another ledger than the head';
        }
      } else if (r.firstPrev !== lastHash) {
        reason = `record ${size} does not link to the previous record's hash`;
      } else if (r.firstKind === SYSTEM_KINDS.genesis) {
        reason = `record ${size} is a second genesis record`;
      }
      if (reason === null) {
        const opensSegment = task.start === 0 && segment > 1;
        if (opensSegment && (r.firstKind !== SYSTEM_KINDS.segmentStart || p?.segment !== segment)) {
          reason = `segment ${segment} does not open with its segment-start record`;
        } else if (!opensSegment && r.firstKind === SYSTEM_KINDS.segmentStart) {
          reason = `record ${size} is a segment-start record inside a segment`;
        }
      }
      if (reason !== null) {
        return fail('EOS_LEDGER_TAMPERED', reason, size, verified, at);
      }
    }
    const cpError = checkCps(size + r.count, r.cpRanges);
    if (cpError !== null) {
      return fail('EOS_LEDGER_TAMPERED', cpError, size, verified, at);
    }
    if (r.head !== undefined) {
      if (r.head.leaf !== head.hash || segment !== head.segment || r.head.end !== head.offset) {
        return fail('EOS_LEDGER_TAMPERED', 'head does not match the record at its position', size, verified, at);
      }
      headSeen = true;
    }
    withRange(frontier, r.range);
    size += r.count;
    if (r.count > 0) {
      lastHash = r.lastLeaf;
    }
    if (r.error !== undefined) {
      return fail('EOS_LEDGER_TAMPERED', r.error.reason, size, verified, { segment, offset: r.error.offset, seq: r.error.seq });
    }
    if (r.trailingBytes > 0 && !(stopAtHead && headSeen)) {
      return fail('EOS_LEDGER_TAMPERED', `${r.trailingBytes} bytes of partial record at the end of the segment`, size, verified, {
        segment,
        offset: task.end - r.trailingBytes,
        seq: size,
      });
    }
  }
  if (!headSeen || (!stopAtHead && cpNext < cps.length)) {
    return fail('EOS_LEDGER_REGRESSED', `the ledger has ${size} records but its signed head/checkpoints cover more`, size, verified, {
      seq: size,
    });
  }
  if (stopAtHead) {
    return { valid: true, records: size, checkpoints: verified };
  }
  const unanchored = size - head.size;
  if (unanchored > 0 && head.state === 'closed') {
    return fail('EOS_LEDGER_TAMPERED', `${unanchored} records follow the head of a cleanly closed ledger`, size, verified, {
      seq: head.size,
    });
  }
  return { valid: true, records: size, checkpoints: verified, ...(unanchored > 0 ? { unanchored } : {}) };
}

function toKey(publicKey: PublicKeyInput): LedgerPublicKey {
  return typeof publicKey === 'string' || publicKey instanceof Uint8Array ? ledgerPublicKey(publicKey) : publicKey;
}

/**
 * {@link verifyLedger} in the calling thread, synchronously.
 */
export function verifyLedgerSync(
  dir: string,
  publicKey: PublicKeyInput,
  options: Pick<VerifyOptions, 'stopAtHead' | 'chunkBytes'> = {},
): LedgerVerifyResult {
  const stopAtHead = options.stopAtHead === true;
  const prepared = prepare(dir, toKey(publicKey), stopAtHead, options.chunkBytes);
  if (!prepared.ok) {
    return prepared.result;
  }
  const scratch: ScanBuffer = {};
  return merge(prepared.plan, prepared.plan.tasks.map((t) => verifyChunk(t.task, scratch)), stopAtHead);
}

function runPool(tasks: readonly ChunkTask[], workers: number): Promise<ChunkResult[]> {
  return new Promise((resolve, reject) => {
    const results: ChunkResult[] = new Array<ChunkResult>(tasks.length);
    const pool: Worker[] = [];
    let next = 0;
    let done = 0;
    let failed = false;
    const finish = (err?: Error): void => {
      for (const w of pool) {
        void w.terminate();
      }
      if (err) {
        reject(err);
      } else {
        resolve(results);
      }
    };
    const feed = (w: Worker): void => {
      if (next < tasks.length) {
        const id = next++;
        w.postMessage({ id, task: tasks[id] });
      }
    };
    for (let i = 0; i < Math.min(workers, tasks.length); i++) {
      const w = new Worker(WORKER_URL);
      pool.push(w);
      w.on('message', (msg: { id: number; result?: ChunkResult; failure?: string }) => {
        if (failed) {
          return;
        }
        if (msg.result === undefined) {
          failed = true;
          finish(new Error(`ledger verify worker failed: ${msg.failure ?? 'unknown'}`));
          return;
        }
        results[msg.id] = msg.result;
        done++;
        if (done === tasks.length) {
          finish();
        } else {
          feed(w);
        }
      });
      w.on('error', (err) => {
        if (!failed) {
          failed = true;
          finish(err);
        }
      });
      feed(w);
    }
  });
}

/**
 * Verifies a ledger directory offline, given only its files and the public key: canonical form,
 * contiguous seq, hash links and genesis binding of every record; that every segment after the
 * first opens with its segment-start record; signature, origin, prev link and Merkle root of every
 * checkpoint (roots are recomputed from the records, which also proves consistency between
 * successive checkpoints); and the signed head against the tail. Record checks and hashing run
 * on worker threads over newline-aligned chunks; the chain is then joined in order.
 */
export async function verifyLedger(dir: string, publicKey: PublicKeyInput, options: VerifyOptions = {}): Promise<LedgerVerifyResult> {
  const stopAtHead = options.stopAtHead === true;
  const workerAvailable = existsSync(fileURLToPath(WORKER_URL));
  const prepared = prepare(dir, toKey(publicKey), stopAtHead, options.chunkBytes);
  if (!prepared.ok) {
    return prepared.result;
  }
  const tasks = prepared.plan.tasks.map((t) => t.task);
  const cores = availableParallelism();
  const workers = options.workers ?? (cores >= 2 && tasks.length >= PARALLEL_MIN_CHUNKS ? Math.min(cores, 4) : 0);
  const scratch: ScanBuffer = {};
  const results =
    workers > 0 && workerAvailable && tasks.length > 1 ? await runPool(tasks, workers) : tasks.map((t) => verifyChunk(t, scratch));
  return merge(prepared.plan, results, stopAtHead);
}
