import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import { EosError } from '@everythingos/proto';

/** A JSON value as stored in a ledger payload. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** One ledger record: one canonical (RFC 8785) JSON line. */
export interface LedgerRecord {
  /** Format version. */
  readonly v: 1;
  /** 0-based sequence number; equals the record's Merkle leaf index. */
  readonly seq: number;
  /** Time appended, ms since the Unix epoch (from the injected clock). */
  readonly ts: number;
  /** Event kind, e.g. `agent.act`, `auth.rejected`, `ledger.genesis`. */
  readonly kind: string;
  /** Agent the record is about, or null for supervisor events. */
  readonly agent: string | null;
  /** Scrubbed payload: hashes and redacted fields, never raw secrets. */
  readonly payload: JsonValue;
  /** Hex leaf hash of the previous record (genesis: {@link genesisPrev} of the ledger id). */
  readonly prev: string;
}

/** Kinds the ledger writes itself. */
export const SYSTEM_KINDS = {
  genesis: 'ledger.genesis',
  segmentStart: 'ledger.segment-start',
  open: 'ledger.open',
  recovery: 'ledger.recovery',
  close: 'ledger.close',
  reset: 'ledger.reset',
} as const;

const KIND_PATTERN = /^[a-z][a-z0-9_.-]{0,63}$/;
const AGENT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const HEX64 = /^[0-9a-f]{64}$/;
/** Payload keys that look like secrets must carry a digest, not a value. */
const SECRET_KEY_PATTERN = /(secret|passw(or)?d|token|api[-_]?key|private[-_]?key|authorization|cookie|credential)/i;
const DIGEST_PATTERN = /^(sha256|hmac-sha256):[0-9a-f]{64}$/;
const MAX_PAYLOAD_DEPTH = 32;

/** `sha256:<hex>` digest of a value, for payload fields that must not hold the value itself. */
export function digestForLedger(value: string | Uint8Array): string {
  return `sha256:${createHash('sha256').update(value).digest('hex')}`;
}

/** Hex SHA-256("eosd-ledger-v1\0" || ledgerId): the `prev` of a ledger's genesis record. */
export function genesisPrev(ledgerId: string): string {
  return createHash('sha256').update(`eosd-ledger-v1\0${ledgerId}`).digest('hex');
}

function checkPayload(value: unknown, path: string, depth: number): void {
  if (depth > MAX_PAYLOAD_DEPTH) {
    throw new EosError('EOS_INVALID_ARGUMENT', `ledger payload nests deeper than ${MAX_PAYLOAD_DEPTH} at ${path}`);
  }
  if (value === null || typeof value === 'string' || typeof value === 'boolean') {
    return;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw new EosError('EOS_INVALID_ARGUMENT', `ledger payload ${path} is not a finite number`);
    }
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkPayload(v, `${path}[${i}]`, depth + 1));
    return;
  }
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const [k, v] of Object.entries(value)) {
      if (SECRET_KEY_PATTERN.test(k) && !(typeof v === 'string' && DIGEST_PATTERN.test(v)) && v !== null) {
        throw new EosError(
          'EOS_INVALID_ARGUMENT',
          `ledger payload field ${path}.${k} looks like a secret; store digestForLedger(value) instead`,
        );
      }
      checkPayload(v, `${path}.${k}`, depth + 1);
    }
    return;
  }
  throw new EosError('EOS_INVALID_ARGUMENT', `ledger payload ${path} is not JSON data (${typeof value})`);
}

/**
 * Checks kind, agent and payload of a record to append: JSON data only, and fields whose names
 * look like secrets must hold a `sha256:`/`hmac-sha256:` digest.
 * @throws EOS_INVALID_ARGUMENT
 */
export function assertAppendable(kind: string, agent: string | null, payload: unknown): asserts payload is JsonValue {
  if (!KIND_PATTERN.test(kind)) {
    throw new EosError('EOS_INVALID_ARGUMENT', `ledger kind ${JSON.stringify(kind)} must match ${KIND_PATTERN}`);
  }
  if (agent !== null && !AGENT_PATTERN.test(agent)) {
    throw new EosError('EOS_INVALID_ARGUMENT', `ledger agent ${JSON.stringify(agent)} must match ${AGENT_PATTERN}`);
  }
  checkPayload(payload, 'payload', 0);
}

/** Canonical line (without newline) of a record: top-level keys are already in JCS order. */
export function encodeRecord(record: LedgerRecord): string {
  return `{"agent":${record.agent === null ? 'null' : JSON.stringify(record.agent)},"kind":${JSON.stringify(record.kind)},"payload":${canonicalJson(record.payload)},"prev":"${record.prev}","seq":${record.seq},"ts":${record.ts},"v":1}`;
}

/**
 * Whether every object in `value` enumerates its keys in JCS order. Together with
 * `JSON.stringify(parsed) === line` this proves canonical form without re-serialising: stringify
 * writes keys in enumeration order and primitives exactly as JCS does.
 */
function keysSorted(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) {
    return true;
  }
  if (Array.isArray(value)) {
    for (const v of value) {
      if (!keysSorted(v)) {
        return false;
      }
    }
    return true;
  }
  let prev: string | undefined;
  for (const k in value) {
    if (prev !== undefined && !(prev < k)) {
      return false;
    }
    prev = k;
    if (!keysSorted((value as Record<string, unknown>)[k])) {
      return false;
    }
  }
  return true;
}

/** Whether `line` is the RFC 8785 form of its parse result `obj`. */
export function isCanonical(obj: unknown, line: string): boolean {
  if (JSON.stringify(obj) === line && keysSorted(obj)) {
    return true;
  }
  // Integer-like keys enumerate numerically in V8, so stringify may differ from a canonical line.
  return canonicalJson(obj) === line;
}

/** Why a line is not a well-formed record, or the record. */
export type ParsedLine = { ok: true; record: LedgerRecord } | { ok: false; reason: string };

/** Parses one line and checks RFC 8785 canonical form and field types. */
export function parseRecordLine(line: string): ParsedLine {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    return { ok: false, reason: 'not a JSON object' };
  }
  const r = obj as Record<string, unknown>;
  const keys = Object.keys(r);
  if (
    keys.length !== 7 ||
    r.v !== 1 ||
    !Number.isSafeInteger(r.seq) ||
    (r.seq as number) < 0 ||
    !Number.isSafeInteger(r.ts) ||
    typeof r.kind !== 'string' ||
    !KIND_PATTERN.test(r.kind) ||
    !(r.agent === null || typeof r.agent === 'string') ||
    !('payload' in r) ||
    typeof r.prev !== 'string' ||
    !HEX64.test(r.prev)
  ) {
    return { ok: false, reason: 'record fields do not match the v1 schema' };
  }
  if (!isCanonical(obj, line)) {
    return { ok: false, reason: 'record is not in RFC 8785 canonical form' };
  }
  return { ok: true, record: obj as LedgerRecord };
}
