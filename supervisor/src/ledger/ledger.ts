import { createHash, randomUUID } from 'node:crypto';
import {
  chmodSync,
  close as closeCb,
  closeSync,
  constants as fsc,
  existsSync,
  fdatasync as fdatasyncCb,
  fstatSync,
  ftruncateSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  write as writeCb,
  writev as writevCb,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { EosError } from '@everythingos/proto';
import { ChainChecker } from './chain-checker.js';
import { checkpointGenesis, parseCheckpoint, signCheckpoint, type Checkpoint } from './checkpoint-note.js';
import type { LedgerSigningKey } from './ledger-key.js';
import {
  CHECKPOINTS_FILE,
  fsyncDir,
  HEAD_FILE,
  listSegments,
  readHead,
  segmentName,
  writeHead,
  writeHeadAsync,
  type LedgerHead,
} from './ledger-files.js';
import {
  assertAppendable,
  encodeRecord,
  genesisPrev,
  parseRecordLine,
  SYSTEM_KINDS,
  type JsonValue,
  type LedgerRecord,
} from './ledger-record.js';
import { encodeLeafLine, leafHash, MerkleFrontier } from './merkle.js';
import { scanSegment } from './segment-scanner.js';
import { verifyLedger } from './verify-ledger.js';

/** Ledger options as written in config (see {@link LedgerOptions} for defaults). */
export const LedgerOptions = z.strictObject({
  /** Directory of this stream (one per stream: audit, decisions). */
  dir: z.string().min(1),
  /** Origin prefix; checkpoints use `<origin>/<ledgerId>`. No whitespace. */
  origin: z.string().regex(/^[\x21-\x7e]{1,200}$/).default('eosd'),
  /** Sign a checkpoint after this many records. */
  checkpointEveryRecords: z.number().int().positive().default(1000),
  /** …or after this long with new records (ms). */
  checkpointIntervalMs: z.number().int().positive().default(10_000),
  /** Longest a routine (non-durable) record waits for its group commit (ms). */
  groupCommitDelayMs: z.number().int().nonnegative().default(100),
  /** Commit as soon as this many routine records are waiting. */
  groupCommitMaxRecords: z.number().int().positive().default(256),
  /** Roll to a new segment at this size (bytes). 64 MiB. */
  maxSegmentBytes: z.number().int().positive().default(64 * 1024 * 1024),
  /** …or at this age (ms). One day. */
  maxSegmentAgeMs: z.number().int().positive().default(86_400_000),
  /** Create a new ledger when the directory holds none (first start only). */
  create: z.boolean().default(false),
  /**
   * Operator override: start even though the ledger is missing, regressed or fails verification.
   * The old files are moved to `rejected-<time>/` and the new ledger's first records say why.
   */
  acceptReset: z.boolean().default(false),
  /**
   * What open() verifies: `full` checks every record, checkpoint and the head before the tail
   * (cost: about 2 µs per record); `tail` trusts the signed head and checks only what follows it.
   */
  verifyOnOpen: z.enum(['full', 'tail']).default('full'),
  /** Free text from the operator, recorded with an override. */
  resetReason: z.string().max(1000).optional(),
});
/** What callers write. */
export type LedgerOptionsInput = z.input<typeof LedgerOptions>;
/** Validated options. */
export type LedgerOptions = z.output<typeof LedgerOptions>;

/** Injected dependencies of a {@link Ledger}. */
export interface LedgerDeps {
  /** The supervisor's ledger signing key (separate from every other key). */
  readonly key: LedgerSigningKey;
  readonly logger: Logger;
  /** Wall clock in ms since the epoch. @defaultValue Date.now */
  readonly clock?: { now(): number };
  /** Called once when the ledger fails closed. */
  readonly onAlarm?: (err: EosError) => void;
  /** Called after each checkpoint and head are durable, e.g. to export the note to journald or a witness. */
  readonly onCheckpoint?: (checkpoint: Checkpoint) => void;
  /** Called after each data fdatasync with its latency in seconds and the records it made durable (metrics). */
  readonly onSync?: (seconds: number, records: number) => void;
}

/** Options of {@link Ledger.append}. */
export interface AppendOptions {
  /** Resolve only after the record is fdatasync'ed, without waiting for the group-commit delay. Use for act() and gated events. */
  readonly durable?: boolean;
}

/** Where an appended record landed. */
export interface AppendResult {
  readonly seq: number;
  /** Hex RFC 6962 leaf hash of the record line. */
  readonly hash: string;
}

interface Waiter<T> {
  resolve(v: T): void;
  reject(e: unknown): void;
}
interface RecItem {
  readonly type: 'rec';
  readonly bytes: Buffer;
  readonly result: AppendResult;
  readonly waiter: Waiter<AppendResult>;
}
interface CpItem {
  readonly type: 'cp';
  readonly cp: Checkpoint;
  readonly head: LedgerHead;
  readonly waiters: Waiter<Checkpoint>[];
}
interface RotateItem {
  readonly type: 'rotate';
  readonly segment: number;
}
type QueueItem = RecItem | CpItem | RotateItem;

interface WriterState {
  ledgerId: string;
  origin: string;
  frontier: MerkleFrontier;
  lastHash: string;
  segment: number;
  segmentBytes: number;
  segmentOpenedAt: number;
  lastCheckpoint: Checkpoint;
  needSegmentStart: boolean;
}

interface Recovery {
  readonly segment: number;
  readonly offset: number;
  readonly droppedBytes: number;
  readonly droppedSha256: string;
  readonly reason: string;
  readonly savedAs: string;
}

const MAX_BATCH_BYTES = 8 * 1024 * 1024;
/** Overlapping fdatasyncs per ledger: enough to hide one sync's latency behind the next write. */
const MAX_SYNCS_IN_FLIGHT = 2;

function ioError(op: string, err: unknown): NodeJS.ErrnoException {
  const e = err as NodeJS.ErrnoException;
  e.message = `${op}: ${e.message}`;
  return e;
}

function writeAll(fd: number, buf: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (off: number): void => {
      writeCb(fd, buf, off, buf.length - off, null, (err, n) => {
        if (err) {
          reject(ioError('write', err));
        } else if (off + n < buf.length) {
          step(off + n);
        } else {
          resolve();
        }
      });
    };
    step(0);
  });
}

/** Largest number of buffers per writev call (Linux IOV_MAX). */
const MAX_IOV = 1024;

/**
 * Writes the records of one batch in order with writev (one request for up to {@link MAX_IOV}
 * records; no copy into a batch buffer). A short write falls back to writing the rest in one buffer.
 */
async function writeRecords(fd: number, items: readonly RecItem[], totalBytes: number): Promise<void> {
  let written = 0;
  for (let i = 0; i < items.length; i += MAX_IOV) {
    const bufs = items.slice(i, i + MAX_IOV).map((it) => it.bytes);
    let want = 0;
    for (const b of bufs) {
      want += b.length;
    }
    const n = await new Promise<number>((resolve, reject) => {
      writevCb(fd, bufs, null, (err, count) => (err ? reject(ioError('write', err)) : resolve(count)));
    });
    written += n;
    if (n < want) {
      const rest = Buffer.concat(items.slice(i).map((it) => it.bytes)).subarray(n);
      await writeAll(fd, rest);
      written += rest.length;
      break;
    }
  }
  if (written !== totalBytes) {
    throw ioError('write', new Error(`wrote ${written} of ${totalBytes} bytes`));
  }
}

function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fdatasyncCb(fd, (err) => (err ? reject(ioError('fdatasync', err)) : resolve()));
  });
}

function tamper(code: 'EOS_LEDGER_TAMPERED' | 'EOS_LEDGER_REGRESSED', dir: string, reason: string): EosError {
  return new EosError(
    code,
    `ledger ${dir}: ${reason}; refusing to start. Investigate (eosd ledger verify); to start anyway pass --accept-ledger-reset, which moves the files aside and is recorded`,
    { details: { dir, reason } },
  );
}

/**
 * An append-only, hash-chained, Merkle-checkpointed JSONL ledger for one stream. The supervisor is
 * its single writer. Every append is sequenced synchronously; durability is batched (group commit):
 * concurrent appenders share one write + fdatasync. On any write or fsync error the ledger fails
 * closed: it rejects every pending and future append with `EOS_LEDGER_DEGRADED`.
 */
export class Ledger {
  readonly options: LedgerOptions;
  readonly #key: LedgerSigningKey;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #onAlarm: ((err: EosError) => void) | undefined;
  readonly #onCheckpoint: ((checkpoint: Checkpoint) => void) | undefined;
  readonly #onSync: ((seconds: number, records: number) => void) | undefined;
  readonly #st: WriterState;
  #fd: number;
  #cpFd: number;
  #queue: QueueItem[] = [];
  #pendingRecs = 0;
  #flushing = false;
  #immediate: NodeJS.Immediate | undefined;
  #timer: NodeJS.Timeout | undefined;
  #interval: NodeJS.Timeout | undefined;
  #degraded: EosError | undefined;
  #cpChain: Promise<void> = Promise.resolve();
  /** Resolves when every batch written so far is durable (or was rejected); never rejects. */
  #durable: Promise<void> = Promise.resolve();
  #syncsInFlight = 0;
  readonly #inFlightCps = new Set<CpItem>();
  #closing = false;
  #closed = false;

  private constructor(options: LedgerOptions, deps: LedgerDeps, st: WriterState, fd: number, cpFd: number) {
    this.options = options;
    this.#key = deps.key;
    this.#onSync = deps.onSync;
    this.#log = deps.logger.child({ ledger: options.dir });
    const clock = deps.clock ?? { now: Date.now };
    this.#now = () => clock.now();
    this.#onAlarm = deps.onAlarm;
    this.#onCheckpoint = deps.onCheckpoint;
    this.#st = st;
    this.#fd = fd;
    this.#cpFd = cpFd;
  }

  /**
   * Opens (or with `create` initialises) the ledger in `options.dir`: verifies the signed head,
   * checks the tail against it, truncates a torn tail (recording what was dropped), writes a
   * `ledger.open` record and a checkpoint, and resolves once they are durable.
   * @throws EOS_CONFIG_INVALID for bad options.
   * @throws EOS_LEDGER_REGRESSED when the ledger is missing or shorter than its head (unless `acceptReset`).
   * @throws EOS_LEDGER_TAMPERED when head, checkpoints or records fail verification (unless `acceptReset`).
   * @throws EOS_LEDGER_DEGRADED when the files cannot be written.
   */
  static async open(input: LedgerOptionsInput, deps: LedgerDeps): Promise<Ledger> {
    const parsed = LedgerOptions.safeParse(input);
    if (!parsed.success) {
      throw new EosError('EOS_CONFIG_INVALID', `invalid ledger options:\n${z.prettifyError(parsed.error)}`, {
        cause: parsed.error,
      });
    }
    const options = parsed.data;
    const clock = deps.clock ?? { now: Date.now };
    const now = (): number => clock.now();
    const log = deps.logger.child({ ledger: options.dir });
    const dir = options.dir;
    const boot: { kind: string; payload: JsonValue }[] = [];
    let st: WriterState;
    try {
      const present = existsSync(dir) && readdirSync(dir).some((n) => n === HEAD_FILE || n === CHECKPOINTS_FILE || n.startsWith('segment-'));
      if (!present) {
        if (!options.create && !options.acceptReset) {
          throw tamper('EOS_LEDGER_REGRESSED', dir, 'the ledger is missing');
        }
        if (!options.create) {
          boot.push({ kind: SYSTEM_KINDS.reset, payload: overridePayload(options, 'EOS_LEDGER_REGRESSED', 'the ledger is missing', null) });
          log.warn({ reason: 'missing' }, 'ledger override: starting a new ledger');
        }
        st = initialise(options, deps.key, now);
      } else {
        try {
          const rec = await recoverExisting(options, deps.key, now);
          st = rec.st;
          if (rec.recovery) {
            boot.push({ kind: SYSTEM_KINDS.recovery, payload: { ...rec.recovery, ...(rec.unclean ? { uncleanShutdown: true } : {}) } });
            log.warn({ recovery: rec.recovery }, 'ledger torn tail truncated');
          } else if (rec.unclean) {
            // The previous run never closed the ledger (crash, kill): say so, with what was kept.
            boot.push({ kind: SYSTEM_KINDS.recovery, payload: { reason: 'unclean shutdown; every record after the signed head verified and kept', ...rec.unclean } });
            log.warn({ ...rec.unclean }, 'ledger recovered after an unclean shutdown');
          }
        } catch (err) {
          const code = (err as { code?: unknown }).code;
          if (!options.acceptReset || (code !== 'EOS_LEDGER_TAMPERED' && code !== 'EOS_LEDGER_REGRESSED')) {
            throw err;
          }
          const e = err as EosError;
          const reason = String(e.details?.reason ?? e.message);
          const movedTo = moveAside(dir, now());
          log.error({ err, movedTo }, 'ledger override: rejected ledger moved aside, starting a new one');
          boot.push({ kind: SYSTEM_KINDS.reset, payload: overridePayload(options, code, reason, movedTo) });
          st = initialise(options, deps.key, now);
        }
      }
    } catch (err) {
      if (err instanceof EosError || (err as { name?: unknown }).name === 'EosError') {
        throw err;
      }
      throw new EosError('EOS_LEDGER_DEGRADED', `ledger ${dir} cannot be opened: ${(err as Error).message}`, {
        cause: err,
        details: { dir, errno: (err as NodeJS.ErrnoException).code },
      });
    }
    let fd: number;
    let cpFd: number;
    try {
      fd = openSync(join(dir, segmentName(st.segment)), fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT, 0o640);
      cpFd = openSync(join(dir, CHECKPOINTS_FILE), fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT, 0o640);
      fsyncDir(dir);
    } catch (err) {
      throw new EosError('EOS_LEDGER_DEGRADED', `ledger ${dir} cannot be opened for writing: ${(err as Error).message}`, {
        cause: err,
        details: { dir, errno: (err as NodeJS.ErrnoException).code },
      });
    }
    const ledger = new Ledger(options, deps, st, fd, cpFd);
    if (st.needSegmentStart) {
      ledger.#appendSegmentStart();
    }
    const writes: Promise<unknown>[] = [];
    for (const b of boot) {
      writes.push(ledger.#append(b.kind, null, b.payload, true));
    }
    writes.push(
      ledger.#append(SYSTEM_KINDS.open, null, { ledgerId: st.ledgerId, origin: st.origin, keyId: deps.key.publicKey.keyId.toString('hex') }, true),
    );
    await Promise.all(writes);
    await ledger.checkpoint();
    ledger.#interval = setInterval(() => ledger.#onInterval(), options.checkpointIntervalMs);
    ledger.#interval.unref();
    log.info({ ledgerId: st.ledgerId, size: st.frontier.size }, 'ledger open');
    return ledger;
  }

  /** The ledger id bound into the genesis record and every checkpoint origin. */
  get ledgerId(): string {
    return this.#st.ledgerId;
  }

  /** Checkpoint origin: `<origin prefix>/<ledgerId>`. */
  get origin(): string {
    return this.#st.origin;
  }

  /** Records sequenced so far (including ones not yet durable). */
  get size(): number {
    return this.#st.frontier.size;
  }

  /** The latest signed checkpoint (possibly not yet durable). */
  get lastCheckpoint(): Checkpoint {
    return this.#st.lastCheckpoint;
  }

  /** Whether the ledger failed closed. Gated actions must be refused while true. */
  get degraded(): boolean {
    return this.#degraded !== undefined;
  }

  /** The `EOS_LEDGER_DEGRADED` error that made the ledger fail closed, if it did. */
  get degradedError(): EosError | undefined {
    return this.#degraded;
  }

  /**
   * Appends a record. Resolves with its seq and leaf hash once it is on disk (fdatasync): at once
   * for `durable`, within `groupCommitDelayMs` otherwise.
   * @throws EOS_INVALID_ARGUMENT for a bad kind/agent or a payload that is not JSON data or holds a raw secret.
   * @throws EOS_LEDGER_DEGRADED when the ledger failed closed (before or while writing this record).
   * @throws EOS_SHUTTING_DOWN after close() began.
   */
  append(kind: string, agentId: string | null, payload: unknown, options: AppendOptions = {}): Promise<AppendResult> {
    try {
      this.#assertWritable();
      assertAppendable(kind, agentId, payload);
      if (kind.startsWith('ledger.')) {
        throw new EosError('EOS_INVALID_ARGUMENT', `ledger kinds (${kind}) are written by the ledger itself`);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#append(kind, agentId, payload, options.durable === true);
  }

  /**
   * Signs a checkpoint over every record sequenced so far and resolves once it and the head are
   * durable. Returns the latest checkpoint unchanged when nothing was appended since.
   * @throws EOS_LEDGER_DEGRADED
   */
  checkpoint(): Promise<Checkpoint> {
    try {
      this.#assertWritable(true);
    } catch (err) {
      return Promise.reject(err);
    }
    const st = this.#st;
    let item: CpItem | undefined;
    if (st.frontier.size === st.lastCheckpoint.size) {
      item =
        this.#queue.find((it): it is CpItem => it.type === 'cp' && it.cp === st.lastCheckpoint) ??
        [...this.#inFlightCps].find((it) => it.cp === st.lastCheckpoint);
      if (item?.cp !== st.lastCheckpoint) {
        return Promise.resolve(st.lastCheckpoint);
      }
    } else {
      item = this.#enqueueCheckpoint('open', true);
    }
    const target = item;
    return new Promise((resolve, reject) => {
      target.waiters.push({ resolve, reject });
      this.#schedule(true);
    });
  }

  /**
   * Writes a `ledger.close` record and a final checkpoint with a `closed` head, then closes the
   * files. Idempotent. A degraded ledger is closed without writing.
   * @throws EOS_LEDGER_DEGRADED when the final writes fail.
   */
  async close(): Promise<void> {
    if (this.#closing) {
      return;
    }
    this.#closing = true;
    clearInterval(this.#interval);
    try {
      if (this.#degraded === undefined) {
        const done = this.#append(SYSTEM_KINDS.close, null, {}, true);
        const cp = new Promise<Checkpoint>((resolve, reject) => {
          this.#enqueueCheckpoint('closed', true).waiters.push({ resolve, reject });
        });
        this.#schedule(true);
        await Promise.all([done, cp]);
        this.#log.info({ size: this.#st.frontier.size, checkpoint: this.#st.lastCheckpoint.hash }, 'ledger closed');
      }
    } finally {
      this.#closeFds();
      this.#closed = true;
    }
  }

  #assertWritable(allowClosing = false): void {
    if (this.#degraded) {
      throw this.#degraded;
    }
    if (this.#closed || (this.#closing && !allowClosing)) {
      throw new EosError('EOS_SHUTTING_DOWN', `ledger ${this.options.dir} is closed`);
    }
  }

  #append(kind: string, agent: string | null, payload: JsonValue, durable: boolean): Promise<AppendResult> {
    const st = this.#st;
    const now = this.#now();
    if (
      kind !== SYSTEM_KINDS.close &&
      (st.segmentBytes >= this.options.maxSegmentBytes || now - st.segmentOpenedAt >= this.options.maxSegmentAgeMs)
    ) {
      this.#rotate(now);
    }
    return new Promise<AppendResult>((resolve, reject) => {
      this.#sequence(kind, agent, payload, now, { resolve, reject });
      if (this.#st.frontier.size - this.#st.lastCheckpoint.size >= this.options.checkpointEveryRecords) {
        this.#enqueueCheckpoint('open', false);
      }
      this.#schedule(durable || this.#pendingRecs >= this.options.groupCommitMaxRecords);
    });
  }

  #sequence(kind: string, agent: string | null, payload: JsonValue, ts: number, waiter: Waiter<AppendResult>): void {
    const st = this.#st;
    const record: LedgerRecord = { v: 1, seq: st.frontier.size, ts, kind, agent, payload, prev: st.lastHash };
    const { bytes, leaf } = encodeLeafLine(encodeRecord(record));
    st.frontier.push(leaf);
    st.lastHash = leaf.toString('hex');
    st.segmentBytes += bytes.length;
    this.#queue.push({ type: 'rec', bytes, result: { seq: record.seq, hash: st.lastHash }, waiter });
    this.#pendingRecs++;
  }

  #rotate(now: number): void {
    const st = this.#st;
    this.#enqueueCheckpoint('open', true);
    st.segment++;
    st.segmentBytes = 0;
    st.segmentOpenedAt = now;
    this.#queue.push({ type: 'rotate', segment: st.segment });
    this.#appendSegmentStart();
  }

  #appendSegmentStart(): void {
    const st = this.#st;
    const payload = { segment: st.segment, prevSegment: st.segment - 1, checkpoint: st.lastCheckpoint.hash };
    this.#sequence(SYSTEM_KINDS.segmentStart, null, payload, this.#now(), {
      resolve: () => undefined,
      reject: () => undefined,
    });
    st.needSegmentStart = false;
  }

  #enqueueCheckpoint(state: 'open' | 'closed', force: boolean): CpItem {
    const st = this.#st;
    const last = this.#queue.at(-1);
    if (last?.type === 'cp' && last.cp.size === st.frontier.size && last.head.state === state) {
      return last;
    }
    if (!force && st.frontier.size === st.lastCheckpoint.size) {
      return { type: 'cp', cp: st.lastCheckpoint, head: {} as LedgerHead, waiters: [] };
    }
    const cp = signCheckpoint(this.#key, {
      origin: st.origin,
      size: st.frontier.size,
      root: st.frontier.root(),
      prev: st.lastCheckpoint.hash,
      time: Math.max(this.#now(), st.lastCheckpoint.time),
    });
    const head: LedgerHead = {
      v: 1,
      ledgerId: st.ledgerId,
      origin: st.origin,
      state,
      size: cp.size,
      hash: st.lastHash,
      segment: st.segment,
      offset: st.segmentBytes,
      frontier: st.frontier.export().map((b) => b.toString('hex')),
      checkpoint: cp.hash,
      time: cp.time,
    };
    st.lastCheckpoint = cp;
    const item: CpItem = { type: 'cp', cp, head, waiters: [] };
    this.#queue.push(item);
    return item;
  }

  #onInterval(): void {
    if (this.#degraded || this.#closing) {
      return;
    }
    if (this.#st.frontier.size > this.#st.lastCheckpoint.size) {
      this.#enqueueCheckpoint('open', false);
      this.#schedule(true);
    }
  }

  #schedule(urgent: boolean): void {
    if (this.#flushing) {
      return;
    }
    if (urgent) {
      if (this.#immediate === undefined) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
        this.#immediate = setImmediate(() => {
          this.#immediate = undefined;
          void this.#drain();
        });
      }
    } else if (this.#timer === undefined && this.#immediate === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        void this.#drain();
      }, this.options.groupCommitDelayMs);
    }
  }

  async #drain(): Promise<void> {
    if (this.#flushing || this.#degraded) {
      return;
    }
    this.#flushing = true;
    let inFlight: QueueItem[] = [];
    try {
      while (this.#queue.length > 0 && this.#degraded === undefined) {
        const first = this.#queue[0] as QueueItem;
        if (first.type === 'rec') {
          // One batch: the records up to the next rotation (or the byte bound). Checkpoints queued
          // between them do not split the batch: they follow it, once its records are durable.
          let n = 0;
          let bytes = 0;
          while (n < this.#queue.length && bytes < MAX_BATCH_BYTES) {
            const it = this.#queue[n] as QueueItem;
            if (it.type === 'rotate') {
              break;
            }
            if (it.type === 'rec') {
              bytes += it.bytes.length;
            }
            n++;
          }
          inFlight = this.#queue.splice(0, n);
          const recs: RecItem[] = [];
          for (const it of inFlight) {
            if (it.type === 'rec') {
              recs.push(it);
            } else if (it.type === 'cp') {
              // Visible to checkpoint() while the batch is written: it is not persisted yet.
              this.#inFlightCps.add(it);
            }
          }
          this.#pendingRecs -= recs.length;
          await writeRecords(this.#fd, recs, bytes);
          this.#startSync(recs);
          for (const it of inFlight) {
            if (it.type === 'cp') {
              this.#persistAfterDurable(it);
            }
          }
          inFlight = [];
          if (this.#syncsInFlight >= MAX_SYNCS_IN_FLIGHT) {
            await this.#durable;
          }
        } else if (first.type === 'cp') {
          this.#queue.shift();
          this.#persistAfterDurable(first);
        } else {
          inFlight = this.#queue.splice(0, 1);
          // Never close a descriptor with an fdatasync still running on it.
          await this.#durable;
          this.#openSegment(first.segment);
        }
        inFlight = [];
      }
    } catch (err) {
      this.#fail(err, inFlight);
    } finally {
      this.#flushing = false;
    }
    if (this.#queue.length > 0 && this.#degraded === undefined) {
      this.#schedule(this.#queue.some((it) => it.type !== 'rec') || this.#pendingRecs >= this.options.groupCommitMaxRecords);
    }
  }

  /**
   * Checkpoint and head persist on their own chain, after the records they cover are durable
   * (every record written so far), while later record batches go on.
   */
  #persistAfterDurable(item: CpItem): void {
    this.#inFlightCps.add(item);
    const covered = this.#durable;
    this.#cpChain = Promise.all([this.#cpChain, covered])
      .then(async () => {
        if (this.#degraded === undefined) {
          await this.#persistCheckpoint(item);
          this.#inFlightCps.delete(item);
          this.#onCheckpoint?.(item.cp);
          for (const w of item.waiters) {
            w.resolve(item.cp);
          }
        }
      })
      .catch((err: unknown) => this.#fail(err, []));
  }

  /**
   * Starts the fdatasync that makes `batch` durable without waiting for it, so the next batch can
   * be written meanwhile (up to MAX_SYNCS_IN_FLIGHT overlap; the kernel can serve them with one
   * journal commit). Acknowledgements stay in sequence order: a batch resolves only after every
   * earlier one has. fdatasync covers everything written to the file before the call.
   */
  #startSync(batch: RecItem[]): void {
    const t0 = process.hrtime.bigint();
    const sync = fdatasync(this.#fd).then(() => {
      this.#onSync?.(Number(process.hrtime.bigint() - t0) / 1e9, batch.length);
    });
    this.#syncsInFlight++;
    this.#durable = Promise.all([this.#durable, sync]).then(
      () => {
        this.#syncsInFlight--;
        const err = this.#degraded;
        for (const it of batch) {
          if (err) {
            it.waiter.reject(err);
          } else {
            it.waiter.resolve(it.result);
          }
        }
      },
      (err: unknown) => {
        this.#syncsInFlight--;
        this.#fail(err, batch);
      },
    );
  }

  async #persistCheckpoint(item: CpItem): Promise<void> {
    await writeAll(this.#cpFd, Buffer.from(`${JSON.stringify({ note: item.cp.note })}\n`, 'utf8'));
    await fdatasync(this.#cpFd);
    try {
      await writeHeadAsync(this.options.dir, item.head, this.#key);
    } catch (err) {
      throw ioError('head', err);
    }
  }

  #openSegment(n: number): void {
    const dir = this.options.dir;
    const old = this.#fd;
    this.#fd = -1;
    try {
      closeSync(old);
      chmodSync(join(dir, segmentName(n - 1)), 0o440);
      this.#fd = openSync(join(dir, segmentName(n)), fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT | fsc.O_EXCL, 0o640);
      fsyncDir(dir);
    } catch (err) {
      throw ioError('rotate', err);
    }
    this.#log.info({ segment: n }, 'ledger segment rotated');
  }

  #fail(cause: unknown, inFlight: QueueItem[]): void {
    if (this.#degraded !== undefined) {
      for (const it of inFlight) {
        if (it.type === 'rec') {
          it.waiter.reject(this.#degraded);
        } else if (it.type === 'cp') {
          for (const w of it.waiters) {
            w.reject(this.#degraded);
          }
        }
      }
      return;
    }
    const errno = (cause as NodeJS.ErrnoException).code;
    const err = new EosError(
      'EOS_LEDGER_DEGRADED',
      `ledger ${this.options.dir} write failed (${(cause as Error).message}); the ledger failed closed and refuses all appends, so gated actions must be refused. Fix the file system, then restart: startup verifies and recovers the tail`,
      { cause, details: { dir: this.options.dir, errno } },
    );
    this.#degraded = err;
    clearTimeout(this.#timer);
    clearInterval(this.#interval);
    if (this.#immediate !== undefined) {
      clearImmediate(this.#immediate);
    }
    const rejectItem = (it: QueueItem): void => {
      if (it.type === 'rec') {
        it.waiter.reject(err);
      } else if (it.type === 'cp') {
        for (const w of it.waiters) {
          w.reject(err);
        }
      }
    };
    inFlight.forEach(rejectItem);
    this.#queue.forEach(rejectItem);
    this.#inFlightCps.forEach(rejectItem);
    this.#inFlightCps.clear();
    this.#queue = [];
    this.#pendingRecs = 0;
    // fsyncgate: a failed fsync may have dropped dirty pages; never fsync this descriptor again.
    this.#closeFds();
    this.#log.error({ err, errno }, 'ledger degraded');
    this.#onAlarm?.(err);
  }

  #closeFds(): void {
    for (const fd of [this.#fd, this.#cpFd]) {
      if (fd >= 0) {
        closeCb(fd, (err) => {
          if (err) {
            this.#log.debug({ err }, 'ledger fd close failed after the ledger stopped writing');
          }
        });
      }
    }
    this.#fd = -1;
    this.#cpFd = -1;
  }
}

function overridePayload(options: LedgerOptions, code: string, reason: string, movedTo: string | null): JsonValue {
  return { override: 'accept-ledger-reset', code, reason, movedTo, operatorReason: options.resetReason ?? null };
}

function moveAside(dir: string, now: number): string {
  const name = `rejected-${new Date(now).toISOString().replace(/[:.]/g, '-')}`;
  const target = join(dir, name);
  mkdirSync(target, { mode: 0o750 });
  for (const n of readdirSync(dir)) {
    if (n === HEAD_FILE || n === CHECKPOINTS_FILE || n.startsWith('segment-') || n.startsWith('torn-')) {
      renameSync(join(dir, n), join(target, n));
    }
  }
  fsyncDir(target);
  fsyncDir(dir);
  return name;
}

function initialise(options: LedgerOptions, key: LedgerSigningKey, now: () => number): WriterState {
  const dir = options.dir;
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  const ledgerId = randomUUID();
  const origin = `${options.origin}/${ledgerId}`;
  const ts = now();
  const genesis: LedgerRecord = {
    v: 1,
    seq: 0,
    ts,
    kind: SYSTEM_KINDS.genesis,
    agent: null,
    payload: { ledgerId, origin, keyId: key.publicKey.keyId.toString('hex'), publicKey: key.publicKey.raw.toString('base64') },
    prev: genesisPrev(ledgerId),
  };
  const bytes = Buffer.from(`${encodeRecord(genesis)}\n`, 'utf8');
  const leaf = leafHash(bytes.subarray(0, bytes.length - 1));
  const fd = openSync(join(dir, segmentName(1)), fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o640);
  try {
    writeFileSync(fd, bytes);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const frontier = new MerkleFrontier();
  frontier.push(leaf);
  // Anchor the genesis at once, so a crash before the first regular checkpoint leaves a ledger
  // that opens instead of one that looks regressed.
  const cp = signCheckpoint(key, { origin, size: 1, root: frontier.root(), prev: checkpointGenesis(ledgerId), time: ts });
  const cpFd = openSync(join(dir, CHECKPOINTS_FILE), fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_APPEND, 0o640);
  try {
    writeFileSync(cpFd, `${JSON.stringify({ note: cp.note })}\n`);
    fsyncSync(cpFd);
  } finally {
    closeSync(cpFd);
  }
  writeHead(
    dir,
    {
      v: 1,
      ledgerId,
      origin,
      state: 'open',
      size: 1,
      hash: leaf.toString('hex'),
      segment: 1,
      offset: bytes.length,
      frontier: frontier.export().map((b) => b.toString('hex')),
      checkpoint: cp.hash,
      time: ts,
    },
    key,
  );
  return {
    ledgerId,
    origin,
    frontier,
    lastHash: leaf.toString('hex'),
    segment: 1,
    segmentBytes: bytes.length,
    segmentOpenedAt: ts,
    lastCheckpoint: cp,
    needSegmentStart: false,
  };
}

/** Reads the line that ends exactly at `offset` (its newline is the byte before `offset`). */
function lineEndingAt(path: string, offset: number): Buffer | undefined {
  const fd = openSync(path, 'r');
  try {
    if (fstatSync(fd).size < offset || offset < 1) {
      return undefined;
    }
    let window = 64 * 1024;
    for (;;) {
      const start = Math.max(0, offset - window);
      const buf = Buffer.allocUnsafe(offset - start);
      readSync(fd, buf, 0, buf.length, start);
      if (buf[buf.length - 1] !== 10) {
        return undefined;
      }
      const nl = buf.lastIndexOf(10, buf.length - 2);
      if (nl >= 0 || start === 0) {
        return buf.subarray(nl + 1, buf.length - 1);
      }
      window *= 4;
    }
  } finally {
    closeSync(fd);
  }
}

async function recoverExisting(
  options: LedgerOptions,
  key: LedgerSigningKey,
  now: () => number,
): Promise<{ st: WriterState; recovery?: Recovery; unclean?: { headSize: number; recordsAfterHead: number } }> {
  const dir = options.dir;
  const pk = key.publicKey;
  const headRead = readHead(dir, pk);
  if (headRead.status === 'missing') {
    throw tamper('EOS_LEDGER_REGRESSED', dir, 'ledger files exist but the signed head is missing');
  }
  if (headRead.status === 'invalid') {
    throw tamper('EOS_LEDGER_TAMPERED', dir, headRead.reason);
  }
  const head = headRead.head;
  const cps = recoverCheckpoints(dir, head, pk);
  if (options.verifyOnOpen === 'full') {
    const res = await verifyLedger(dir, pk, { stopAtHead: true });
    if (!res.valid && res.error) {
      const at = res.error.segment === undefined ? '' : ` (segment ${res.error.segment}, byte ${res.error.offset ?? 0})`;
      throw tamper(res.error.code, dir, `${res.error.reason}${at}`);
    }
  }
  const segments = listSegments(dir);
  const lastSegment = segments.at(-1) ?? 0;
  if (!segments.includes(head.segment)) {
    throw tamper('EOS_LEDGER_REGRESSED', dir, `segment ${head.segment} named by the head is missing`);
  }
  segments.forEach((n, i) => {
    if (n !== i + 1) {
      throw tamper('EOS_LEDGER_REGRESSED', dir, `segment ${i + 1} is missing`);
    }
  });
  const anchor = lineEndingAt(join(dir, segmentName(head.segment)), head.offset);
  const anchorRecord = anchor ? parseRecordLine(anchor.toString('utf8')) : undefined;
  if (!anchor || !anchorRecord?.ok || anchorRecord.record.seq !== head.size - 1) {
    throw tamper('EOS_LEDGER_REGRESSED', dir, `the record the head names (seq ${head.size - 1}) is not where the head says`);
  }
  if (leafHash(anchor).toString('hex') !== head.hash) {
    throw tamper('EOS_LEDGER_TAMPERED', dir, `record ${head.size - 1} differs from the signed head`);
  }
  const frontier = MerkleFrontier.restore(
    head.size,
    head.frontier.map((h) => Buffer.from(h, 'hex')),
  );
  const headCp = cps.find((c) => c.hash === head.checkpoint) as Checkpoint;
  if (!frontier.root().equals(headCp.root)) {
    throw tamper('EOS_LEDGER_TAMPERED', dir, 'head frontier does not match its checkpoint root');
  }
  const pending = cps.slice(cps.indexOf(headCp) + 1);
  while (pending.length > 0 && (pending[0] as Checkpoint).size === head.size) {
    if (!(pending.shift() as Checkpoint).root.equals(headCp.root)) {
      throw tamper('EOS_LEDGER_TAMPERED', dir, 'a checkpoint after the head does not match the records');
    }
  }
  const checker = new ChainChecker({ size: head.size, lastHash: head.hash, ledgerId: head.ledgerId, origin: head.origin }, frontier);
  let recovery: Recovery | undefined;
  let segBytes = 0;
  let seg = head.segment;
  for (const n of segments.filter((s) => s >= head.segment)) {
    seg = n;
    const path = join(dir, segmentName(n));
    const from = n === head.segment ? head.offset : 0;
    checker.enterSegment(n, from === 0);
    const end = scanSegment(path, from, (buf, start, stop, leaf) => {
      const r = checker.accept(buf.toString('utf8', start, stop), Buffer.from(leaf, 'latin1'));
      if (r !== null) {
        return r;
      }
      while (pending.length > 0 && (pending[0] as Checkpoint).size === checker.position.size) {
        if (!(pending[0] as Checkpoint).root.equals(checker.frontier.root())) {
          return 'a checkpoint after the head does not match the records';
        }
        pending.shift();
      }
      return null;
    });
    segBytes = end.goodEnd;
    if (end.trailingBytes === 0) {
      continue;
    }
    const reason = end.rejected ?? 'partial record at the end';
    if (n !== lastSegment) {
      throw tamper('EOS_LEDGER_TAMPERED', dir, `segment ${n} at byte ${end.goodEnd}: ${reason}`);
    }
    if (head.state === 'closed') {
      throw tamper('EOS_LEDGER_TAMPERED', dir, `${end.trailingBytes} bytes follow the head of a cleanly closed ledger`);
    }
    const dropped = Buffer.allocUnsafe(end.trailingBytes);
    const fd = openSync(path, 'r+');
    try {
      readSync(fd, dropped, 0, dropped.length, end.goodEnd);
      const savedAs = `torn-${String(n).padStart(6, '0')}-${end.goodEnd}.bin`;
      writeFileSync(join(dir, savedAs), dropped, { mode: 0o440 });
      ftruncateSync(fd, end.goodEnd);
      fsyncSync(fd);
      recovery = {
        segment: n,
        offset: end.goodEnd,
        droppedBytes: dropped.length,
        droppedSha256: createHash('sha256').update(dropped).digest('hex'),
        reason,
        savedAs,
      };
    } finally {
      closeSync(fd);
    }
    fsyncDir(dir);
  }
  if (head.state === 'closed' && checker.position.size > head.size) {
    throw tamper('EOS_LEDGER_TAMPERED', dir, `${checker.position.size - head.size} records follow the head of a cleanly closed ledger`);
  }
  if (pending.length > 0) {
    throw tamper('EOS_LEDGER_REGRESSED', dir, `a signed checkpoint covers ${(pending[0] as Checkpoint).size} records, only ${checker.position.size} exist`);
  }
  const lastCp = cps.at(-1) as Checkpoint;
  return {
    st: {
      ledgerId: head.ledgerId,
      origin: head.origin,
      frontier,
      lastHash: checker.position.lastHash,
      segment: seg,
      segmentBytes: segBytes,
      segmentOpenedAt: now(),
      lastCheckpoint: lastCp,
      needSegmentStart: seg > 1 && segBytes === 0,
    },
    ...(recovery ? { recovery } : {}),
    ...(head.state === 'open' ? { unclean: { headSize: head.size, recordsAfterHead: checker.position.size - head.size } } : {}),
  };
}

/**
 * Verifies the checkpoints file against the head: the head's checkpoint must be present; newer
 * ones (written just before a crash) must verify and link. A torn last line is truncated.
 */
function recoverCheckpoints(dir: string, head: LedgerHead, pk: LedgerSigningKey['publicKey']): Checkpoint[] {
  const path = join(dir, CHECKPOINTS_FILE);
  const fd = openSync(path, 'r+');
  let text: string;
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.allocUnsafe(size);
    readSync(fd, buf, 0, size, 0);
    const end = buf.lastIndexOf(10) + 1;
    if (end < size) {
      if (head.state === 'closed') {
        throw tamper('EOS_LEDGER_TAMPERED', dir, 'checkpoints file has bytes after a clean shutdown');
      }
      ftruncateSync(fd, end);
      fsyncSync(fd);
    }
    text = buf.toString('utf8', 0, end);
  } finally {
    closeSync(fd);
  }
  const cps: Checkpoint[] = [];
  for (const line of text.split('\n').slice(0, -1)) {
    let note: unknown;
    try {
      note = (JSON.parse(line) as { note?: unknown }).note;
    } catch (err) {
      throw tamper('EOS_LEDGER_TAMPERED', dir, `checkpoint line is not JSON (${(err as Error).message})`);
    }
    const parsed = typeof note === 'string' ? parseCheckpoint(note, pk) : { ok: false as const, reason: 'malformed checkpoint line' };
    if (!parsed.ok) {
      throw tamper('EOS_LEDGER_TAMPERED', dir, `checkpoint ${cps.length}: ${parsed.reason}`);
    }
    const prev = cps.at(-1);
    const cp = parsed.checkpoint;
    if (cp.origin !== head.origin || cp.prev !== (prev ? prev.hash : checkpointGenesis(head.ledgerId)) || (prev && cp.size < prev.size)) {
      throw tamper('EOS_LEDGER_TAMPERED', dir, `checkpoint ${cps.length} does not continue the checkpoint chain`);
    }
    cps.push(cp);
  }
  const at = cps.findIndex((c) => c.hash === head.checkpoint);
  if (at < 0) {
    throw tamper('EOS_LEDGER_REGRESSED', dir, 'the checkpoint named by the signed head is missing');
  }
  if (at !== cps.length - 1 && head.state === 'closed') {
    throw tamper('EOS_LEDGER_TAMPERED', dir, 'checkpoints follow the head of a cleanly closed ledger');
  }
  return cps;
}
