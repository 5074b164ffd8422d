/**
 * Record rules that verification needs in every worker thread, kept free of package imports so a
 * verify worker starts without loading `@everythingos/proto` (grpc-js, zod: about 0.2 s of CPU).
 */

/** Kinds the ledger writes itself. */
export const SYSTEM_KINDS = {
  genesis: 'ledger.genesis',
  segmentStart: 'ledger.segment-start',
  open: 'ledger.open',
  recovery: 'ledger.recovery',
  close: 'ledger.close',
  reset: 'ledger.reset',
} as const;

/** What a record kind must match. */
export const KIND_PATTERN = /^[a-z][a-z0-9_.-]{0,63}$/;

/** Reason given for a line that is not a canonical v1 record. */
export const NOT_CANONICAL = 'record is not a canonical (RFC 8785) v1 record';

const knownKinds = new Set<string>();
const KNOWN_KINDS_MAX = 4096;

/** Whether `kind` matches the kind pattern (memoised: kinds repeat on every line). */
export function isValidKind(kind: string): boolean {
  if (knownKinds.has(kind)) {
    return true;
  }
  if (!KIND_PATTERN.test(kind)) {
    return false;
  }
  if (knownKinds.size < KNOWN_KINDS_MAX) {
    knownKinds.add(kind);
  }
  return true;
}
