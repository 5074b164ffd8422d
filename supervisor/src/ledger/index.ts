/**
 * @module ledger
 * Tamper-evident audit log and decision ledger: hash-chained canonical JSONL segments, RFC 6962
 * Merkle checkpoints signed as C2SP notes with the supervisor's Ed25519 ledger key, a signed head,
 * group commit with fdatasync, fail-closed on I/O errors, and offline verify/prove/query tools.
 *
 * ```ts
 * const key = loadOrGenerateLedgerKey('/var/lib/eosd/keys/ledger.key');
 * const audit = await Ledger.open({ dir: '/var/lib/eosd/audit', origin: 'eosd/host1/audit' }, { key, logger });
 * await audit.append('auth.rejected', 'agent-a', { reason: 'bad mac' }, { durable: true });
 * await audit.close();
 * await verifyLedger('/var/lib/eosd/audit', key.publicKey); // { valid: true, records, checkpoints }
 * ```
 */
export { Ledger, LedgerOptions } from './ledger.js';
export type { LedgerOptionsInput, LedgerDeps, AppendOptions, AppendResult } from './ledger.js';
export {
  generateLedgerKey,
  loadLedgerKey,
  loadOrGenerateLedgerKey,
  readLedgerPublicKey,
  ledgerPublicKey,
  ledgerKeyId,
  LEDGER_KEY_NAME,
} from './ledger-key.js';
export type { LedgerPublicKey, LedgerSigningKey } from './ledger-key.js';
export { digestForLedger, SYSTEM_KINDS } from './ledger-record.js';
export type { LedgerRecord, JsonValue } from './ledger-record.js';
export type { Checkpoint } from './checkpoint-note.js';
export { verifyLedger, verifyLedgerSync } from './verify-ledger.js';
export type { LedgerVerifyResult, LedgerVerifyError, VerifyOptions } from './verify-ledger.js';
export { ledgerStatus } from './ledger-status.js';
export type { LedgerStatus } from './ledger-status.js';
export { proveInclusion, verifyInclusionProof } from './prove-inclusion.js';
export type { InclusionProof, InclusionVerdict } from './prove-inclusion.js';
export { queryLedger } from './query-ledger.js';
export type { LedgerQuery } from './query-ledger.js';
