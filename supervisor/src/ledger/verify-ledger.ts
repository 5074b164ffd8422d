import { join } from 'node:path';
import { ChainChecker } from './chain-checker.js';
import { checkpointGenesis, parseCheckpoint, type Checkpoint } from './checkpoint-note.js';
import { ledgerPublicKey, type LedgerPublicKey } from './ledger-key.js';
import { listSegments, readCheckpointNotes, readHead, segmentName, type LedgerHead } from './ledger-files.js';
import { MerkleFrontier } from './merkle.js';
import { scanSegment } from './segment-scanner.js';

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

/**
 * Verifies a ledger directory offline, given only its files and the public key: canonical form,
 * contiguous seq, hash links and genesis binding of every record; signature, origin, prev link,
 * and Merkle root (recomputed from the records, which also proves consistency between successive
 * checkpoints) of every checkpoint; and the signed head against the tail.
 */
export function verifyLedger(dir: string, publicKey: LedgerPublicKey | Uint8Array | string): LedgerVerifyResult {
  return verifyLedgerUpTo(dir, publicKey, false);
}

const STOP = '\0stop';

/**
 * {@link verifyLedger}, optionally stopping at the signed head (for startup, which then checks
 * and recovers the tail itself).
 */
export function verifyLedgerUpTo(dir: string, publicKey: LedgerPublicKey | Uint8Array | string, stopAtHead: boolean): LedgerVerifyResult {
  const pk = typeof publicKey === 'string' || publicKey instanceof Uint8Array ? ledgerPublicKey(publicKey) : publicKey;
  let records = 0;
  let verifiedCps = 0;
  const fail = (code: LedgerVerifyError['code'], reason: string, at: Partial<LedgerVerifyError> = {}): LedgerVerifyResult => ({
    valid: false,
    records,
    checkpoints: verifiedCps,
    error: { code, reason, ...at },
  });

  const headRead = readHead(dir, pk);
  if (headRead.status === 'missing') {
    return fail('EOS_LEDGER_REGRESSED', 'head file is missing');
  }
  if (headRead.status === 'invalid') {
    return fail('EOS_LEDGER_TAMPERED', headRead.reason);
  }
  const head: LedgerHead = headRead.head;

  const { notes, error: cpFileError } = readCheckpointNotes(dir);
  if (cpFileError !== undefined) {
    return fail('EOS_LEDGER_TAMPERED', cpFileError);
  }
  const cps: Checkpoint[] = [];
  for (const [i, note] of notes.entries()) {
    const parsed = parseCheckpoint(note, pk);
    if (!parsed.ok) {
      return fail('EOS_LEDGER_TAMPERED', `checkpoint ${i}: ${parsed.reason}`);
    }
    const cp = parsed.checkpoint;
    const prev = cps[i - 1];
    if (cp.origin !== head.origin) {
      return fail('EOS_LEDGER_TAMPERED', `checkpoint ${i} has origin ${cp.origin}, the head says ${head.origin}`);
    }
    if (prev === undefined ? cp.prev !== checkpointGenesis(head.ledgerId) : cp.prev !== prev.hash) {
      return fail('EOS_LEDGER_TAMPERED', `checkpoint ${i} does not link to the previous checkpoint`);
    }
    if (prev !== undefined && (cp.size < prev.size || cp.time < prev.time)) {
      return fail('EOS_LEDGER_TAMPERED', `checkpoint ${i} goes back in size or time`);
    }
    cps.push(cp);
  }
  const headCpIndex = cps.findIndex((cp) => cp.hash === head.checkpoint);
  if (headCpIndex < 0) {
    return fail(cps.length === 0 ? 'EOS_LEDGER_REGRESSED' : 'EOS_LEDGER_TAMPERED', 'the checkpoint named by the head is missing');
  }
  if (headCpIndex !== cps.length - 1 && head.state === 'closed') {
    return fail('EOS_LEDGER_TAMPERED', 'checkpoints follow the head of a cleanly closed ledger');
  }
  if ((cps[headCpIndex] as Checkpoint).size !== head.size) {
    return fail('EOS_LEDGER_TAMPERED', 'head size differs from its checkpoint size');
  }

  const segments = listSegments(dir);
  if (segments.length === 0) {
    return fail('EOS_LEDGER_REGRESSED', 'no segment files');
  }
  for (const [i, n] of segments.entries()) {
    if (n !== i + 1) {
      return fail('EOS_LEDGER_REGRESSED', `segment ${i + 1} is missing`, { segment: i + 1 });
    }
  }

  const checker = new ChainChecker({ size: 0, lastHash: '', ledgerId: '', origin: '' }, new MerkleFrontier());
  let cpNext = 0;
  let headSeen = false;
  let where: { segment: number; end: number } = { segment: 0, end: 0 };
  const checkAnchors = (): string | null => {
    const size = checker.position.size;
    while (cpNext < cps.length && (cps[cpNext] as Checkpoint).size === size) {
      if (!(cps[cpNext] as Checkpoint).root.equals(checker.frontier.root())) {
        return `checkpoint ${cpNext} root does not match the records`;
      }
      cpNext++;
      verifiedCps++;
    }
    if (size === head.size) {
      if (checker.position.lastHash !== head.hash || where.segment !== head.segment || where.end !== head.offset) {
        return 'head does not match the record at its position';
      }
      headSeen = true;
    }
    return null;
  };
  const early = checkAnchors();
  if (early !== null) {
    return fail('EOS_LEDGER_TAMPERED', early);
  }
  for (const n of segments) {
    checker.enterSegment(n, true);
    const end = scanSegment(join(dir, segmentName(n)), 0, (text, leaf, start, lineEnd) => {
      const reason = checker.accept(text, leaf);
      if (reason !== null) {
        return reason;
      }
      records = checker.position.size;
      if (records === 1 && (checker.position.ledgerId !== head.ledgerId || checker.position.origin !== head.origin)) {
        return 'genesis record names another ledger than the head';
      }
      where = { segment: n, end: lineEnd };
      void start;
      const anchor = checkAnchors();
      return anchor ?? (stopAtHead && headSeen ? STOP : null);
    });
    if (end.rejected === STOP) {
      return { valid: true, records, checkpoints: verifiedCps };
    }
    if (end.rejected !== undefined) {
      return fail('EOS_LEDGER_TAMPERED', end.rejected, { segment: n, offset: end.goodEnd, seq: records });
    }
    if (end.trailingBytes > 0) {
      return fail('EOS_LEDGER_TAMPERED', `${end.trailingBytes} bytes of partial record at the end of the segment`, {
        segment: n,
        offset: end.goodEnd,
        seq: records,
      });
    }
  }
  if (!headSeen || cpNext < cps.length) {
    return fail('EOS_LEDGER_REGRESSED', `the ledger has ${records} records but its signed head/checkpoints cover more`, { seq: records });
  }
  const unanchored = records - head.size;
  if (unanchored > 0 && head.state === 'closed') {
    return fail('EOS_LEDGER_TAMPERED', `${unanchored} records follow the head of a cleanly closed ledger`, { seq: head.size });
  }
  return { valid: true, records, checkpoints: verifiedCps, ...(unanchored > 0 ? { unanchored } : {}) };
}
