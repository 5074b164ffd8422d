import { join } from 'node:path';
import { EosError } from '@everythingos/proto';
import { parseCheckpoint, type Checkpoint } from './checkpoint-note.js';
import { ledgerPublicKey, type LedgerPublicKey } from './ledger-key.js';
import { listSegments, readCheckpointNotes, segmentName } from './ledger-files.js';
import { inclusionPath, leafHash, merkleRoot, verifyInclusion } from './merkle.js';
import { parseRecordLine } from './ledger-record.js';
import { scanSegment } from './segment-scanner.js';

/** An RFC 6962 inclusion proof of one record against a signed checkpoint; JSON-safe. */
export interface InclusionProof {
  readonly seq: number;
  /** The record line (canonical JSON, no newline). */
  readonly record: string;
  /** Checkpoint size the proof is for. */
  readonly treeSize: number;
  /** Audit path, hex, leaf to root. */
  readonly path: readonly string[];
  /** The signed checkpoint note the proof is against. */
  readonly checkpoint: string;
}

function toKey(publicKey: LedgerPublicKey | Uint8Array | string): LedgerPublicKey {
  return typeof publicKey === 'string' || publicKey instanceof Uint8Array ? ledgerPublicKey(publicKey) : publicKey;
}

/**
 * Builds an inclusion proof for record `seq` against the latest checkpoint in `dir` (offline).
 * @throws EOS_NOT_FOUND when no checkpoint covers `seq`.
 * @throws EOS_LEDGER_TAMPERED when the records do not match the checkpoint.
 */
export function proveInclusion(dir: string, seq: number, publicKey: LedgerPublicKey | Uint8Array | string): InclusionProof {
  const pk = toKey(publicKey);
  const { notes } = readCheckpointNotes(dir);
  const note = notes.at(-1);
  if (note === undefined) {
    throw new EosError('EOS_NOT_FOUND', `ledger ${dir} has no checkpoint`);
  }
  const parsed = parseCheckpoint(note, pk);
  if (!parsed.ok) {
    throw new EosError('EOS_LEDGER_TAMPERED', `ledger ${dir}: latest checkpoint: ${parsed.reason}`);
  }
  const cp = parsed.checkpoint;
  if (!Number.isSafeInteger(seq) || seq < 0 || seq >= cp.size) {
    throw new EosError('EOS_NOT_FOUND', `record ${seq} is not covered by the latest checkpoint (size ${cp.size})`);
  }
  const leaves: Buffer[] = [];
  let record: string | undefined;
  for (const n of listSegments(dir)) {
    if (leaves.length >= cp.size) {
      break;
    }
    scanSegment(join(dir, segmentName(n)), 0, (buf, start, end, leaf) => {
      if (leaves.length === seq) {
        record = buf.toString('utf8', start, end);
      }
      leaves.push(Buffer.from(leaf, 'latin1'));
      return leaves.length >= cp.size ? 'done' : null;
    });
  }
  if (leaves.length < cp.size || record === undefined || !merkleRoot(leaves, 0, cp.size).equals(cp.root)) {
    throw new EosError('EOS_LEDGER_TAMPERED', `ledger ${dir}: records do not match the latest checkpoint; run verify`);
  }
  return {
    seq,
    record,
    treeSize: cp.size,
    path: inclusionPath(leaves, seq, cp.size).map((b) => b.toString('hex')),
    checkpoint: cp.note,
  };
}

/** Result of {@link verifyInclusionProof}. */
export type InclusionVerdict = { valid: true; checkpoint: Checkpoint } | { valid: false; reason: string };

/**
 * Verifies an inclusion proof offline: the checkpoint signature (with `publicKey`), that the proof
 * is against `checkpoint` (the note the verifier trusts, e.g. from `eosd ledger status` out of
 * band; defaults to the note inside the proof), that the record line has the claimed seq, and the
 * RFC 9162 §2.1.3.2 audit path to the checkpoint root.
 */
export function verifyInclusionProof(
  proof: InclusionProof,
  checkpoint: string | undefined,
  publicKey: LedgerPublicKey | Uint8Array | string,
): InclusionVerdict {
  const pk = toKey(publicKey);
  const note = checkpoint ?? proof.checkpoint;
  if (note !== proof.checkpoint) {
    return { valid: false, reason: 'the proof is against a different checkpoint' };
  }
  const parsed = parseCheckpoint(note, pk);
  if (!parsed.ok) {
    return { valid: false, reason: parsed.reason };
  }
  const cp = parsed.checkpoint;
  if (proof.treeSize !== cp.size) {
    return { valid: false, reason: 'proof tree size differs from the checkpoint size' };
  }
  const rec = parseRecordLine(proof.record);
  if (!rec.ok || rec.record.seq !== proof.seq) {
    return { valid: false, reason: 'record line is malformed or has another seq' };
  }
  if (!Array.isArray(proof.path) || !proof.path.every((h) => typeof h === 'string' && /^[0-9a-f]{64}$/.test(h))) {
    return { valid: false, reason: 'audit path is malformed' };
  }
  const ok = verifyInclusion(
    leafHash(Buffer.from(proof.record, 'utf8')),
    proof.seq,
    proof.treeSize,
    proof.path.map((h) => Buffer.from(h, 'hex')),
    cp.root,
  );
  return ok ? { valid: true, checkpoint: cp } : { valid: false, reason: 'audit path does not lead to the checkpoint root' };
}
