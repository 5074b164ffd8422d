import { createHash } from 'node:crypto';
import { LEDGER_KEY_NAME, type LedgerPublicKey, type LedgerSigningKey } from './ledger-key.js';

/** A signed checkpoint (C2SP signed note) over the ledger's Merkle tree. */
export interface Checkpoint {
  /** Log origin: `<origin prefix>/<ledgerId>`. */
  readonly origin: string;
  /** Tree size: number of records covered (seq 0 … size-1). */
  readonly size: number;
  /** RFC 6962 Merkle root over the first `size` records. */
  readonly root: Buffer;
  /** Hex hash of the previous checkpoint note ({@link checkpointGenesis} for the first). */
  readonly prev: string;
  /** Signing time, ms since the Unix epoch. */
  readonly time: number;
  /** Full note text (body, blank line, signature lines). */
  readonly note: string;
  /** Hex SHA-256 of the note text; what operators compare out of band. */
  readonly hash: string;
}

const SIG_PREFIX = '\u2014 ';

/** Hex SHA-256("eosd-checkpoint-v1\0" || ledgerId): the `prev` of a ledger's first checkpoint. */
export function checkpointGenesis(ledgerId: string): string {
  return createHash('sha256').update(`eosd-checkpoint-v1\0${ledgerId}`).digest('hex');
}

function noteHash(note: string): string {
  return createHash('sha256').update(note, 'utf8').digest('hex');
}

/** Builds and signs a checkpoint note. */
export function signCheckpoint(
  key: LedgerSigningKey,
  fields: { origin: string; size: number; root: Buffer; prev: string; time: number },
): Checkpoint {
  const body = `${fields.origin}\n${fields.size}\n${fields.root.toString('base64')}\nprev ${fields.prev}\ntime ${fields.time}\n`;
  const sig = key.sign(Buffer.from(body, 'utf8'));
  const note = `${body}\n${SIG_PREFIX}${LEDGER_KEY_NAME} ${Buffer.concat([key.publicKey.keyId, sig]).toString('base64')}\n`;
  return { ...fields, root: Buffer.from(fields.root), note, hash: noteHash(note) };
}

/** Result of {@link parseCheckpoint}. */
export type ParsedCheckpoint = { ok: true; checkpoint: Checkpoint } | { ok: false; reason: string };

/**
 * Parses a note and verifies its signature with `publicKey` (signature lines of unknown keys are
 * ignored, as C2SP requires; at least one line must be ours and valid).
 */
export function parseCheckpoint(note: string, publicKey: LedgerPublicKey): ParsedCheckpoint {
  const split = note.indexOf('\n\n');
  if (split < 0 || !note.endsWith('\n')) {
    return { ok: false, reason: 'checkpoint note has no signature block' };
  }
  const body = note.slice(0, split + 1);
  const lines = body.slice(0, -1).split('\n');
  if (lines.length !== 5) {
    return { ok: false, reason: 'checkpoint body must have 5 lines' };
  }
  const [origin, sizeText, rootText, prevLine, timeLine] = lines as [string, string, string, string, string];
  const size = Number(sizeText);
  const root = Buffer.from(rootText, 'base64');
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText) || !Number.isSafeInteger(size) || root.length !== 32 || root.toString('base64') !== rootText) {
    return { ok: false, reason: 'checkpoint size or root is malformed' };
  }
  const prevMatch = /^prev ([0-9a-f]{64})$/.exec(prevLine);
  const timeMatch = /^time (0|[1-9][0-9]*)$/.exec(timeLine);
  if (!prevMatch || !timeMatch) {
    return { ok: false, reason: 'checkpoint prev/time extension lines are malformed' };
  }
  let signed = false;
  for (const line of note.slice(split + 2, -1).split('\n')) {
    if (!line.startsWith(SIG_PREFIX)) {
      return { ok: false, reason: 'malformed signature line' };
    }
    const [name, b64] = line.slice(SIG_PREFIX.length).split(' ');
    if (name !== LEDGER_KEY_NAME || b64 === undefined) {
      continue;
    }
    const blob = Buffer.from(b64, 'base64');
    if (blob.length === 68 && blob.subarray(0, 4).equals(publicKey.keyId)) {
      if (!publicKey.verify(Buffer.from(body, 'utf8'), blob.subarray(4))) {
        return { ok: false, reason: 'checkpoint signature does not verify' };
      }
      signed = true;
    }
  }
  if (!signed) {
    return { ok: false, reason: 'checkpoint carries no signature by the ledger key' };
  }
  return {
    ok: true,
    checkpoint: { origin, size, root, prev: prevMatch[1] as string, time: Number(timeMatch[1]), note, hash: noteHash(note) },
  };
}
