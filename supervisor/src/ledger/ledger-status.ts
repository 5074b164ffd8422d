import { join } from 'node:path';
import { EosError } from '@everythingos/proto';
import { parseCheckpoint } from './checkpoint-note.js';
import { ledgerPublicKey, type LedgerPublicKey } from './ledger-key.js';
import { HEAD_FILE, listSegments, readCheckpointNotes, readHead, type LedgerHead } from './ledger-files.js';

/** What `eosd ledger status` prints. */
export interface LedgerStatus {
  readonly ledgerId: string;
  readonly origin: string;
  /** `closed` after a clean shutdown, `open` while running or after a crash. */
  readonly state: 'open' | 'closed';
  /** Records covered by the signed head. */
  readonly headSize: number;
  readonly segments: number;
  /** Latest checkpoint: compare `hash` out of band (journald, a witness, a remote collector). */
  readonly latestCheckpoint: { readonly size: number; readonly root: string; readonly hash: string; readonly time: number; readonly note: string } | null;
}

/**
 * Summarises a ledger directory offline. Verifies the head and latest checkpoint signatures; this
 * is not a full verification (use verifyLedger).
 * @throws EOS_NOT_FOUND when there is no head file.
 * @throws EOS_LEDGER_TAMPERED when the head or latest checkpoint does not verify.
 */
export function ledgerStatus(dir: string, publicKey: LedgerPublicKey | Uint8Array | string): LedgerStatus {
  const pk = typeof publicKey === 'string' || publicKey instanceof Uint8Array ? ledgerPublicKey(publicKey) : publicKey;
  const read = readHead(dir, pk);
  if (read.status === 'missing') {
    throw new EosError('EOS_NOT_FOUND', `no ledger head at ${join(dir, HEAD_FILE)}`);
  }
  if (read.status === 'invalid') {
    throw new EosError('EOS_LEDGER_TAMPERED', `ledger ${dir}: ${read.reason}`);
  }
  const head: LedgerHead = read.head;
  const { notes } = readCheckpointNotes(dir);
  const last = notes.at(-1);
  let latestCheckpoint: LedgerStatus['latestCheckpoint'] = null;
  if (last !== undefined) {
    const parsed = parseCheckpoint(last, pk);
    if (!parsed.ok) {
      throw new EosError('EOS_LEDGER_TAMPERED', `ledger ${dir}: latest checkpoint: ${parsed.reason}`);
    }
    const cp = parsed.checkpoint;
    latestCheckpoint = { size: cp.size, root: cp.root.toString('base64'), hash: cp.hash, time: cp.time, note: cp.note };
  }
  return {
    ledgerId: head.ledgerId,
    origin: head.origin,
    state: head.state,
    headSize: head.size,
    segments: listSegments(dir).length,
    latestCheckpoint,
  };
}
