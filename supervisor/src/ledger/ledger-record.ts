import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import { newRecordSpans, scanRecordSpans } from './canonical-scan.js';
import { EosError } from '@everythingos/proto';
import { isValidKind, KIND_PATTERN, NOT_CANONICAL } from './record-kinds.js';

export { isValidKind, NOT_CANONICAL, SYSTEM_KINDS } from './record-kinds.js';

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


const AGENT_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
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
      // Numbers and booleans under such keys are counts and flags (`inputTokens`, `hasCredential`), not secrets.
      const plain = v === null || typeof v === 'number' || typeof v === 'boolean';
      if (SECRET_KEY_PATTERN.test(k) && !(typeof v === 'string' && DIGEST_PATTERN.test(v)) && !plain) {
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

/** Why a line is not a well-formed record, or the record. */
export type ParsedLine = { ok: true; record: LedgerRecord } | { ok: false; reason: string };


/** Parses one line and checks RFC 8785 canonical form and the v1 schema. */
export function parseRecordLine(line: string): ParsedLine {
  const b = Buffer.from(line, 'utf8');
  const sp = newRecordSpans();
  if (!scanRecordSpans(b, 0, b.length, sp)) {
    return { ok: false, reason: NOT_CANONICAL };
  }
  const kind = b.toString('latin1', sp.kindStart + 1, sp.kindEnd - 1);
  if (!isValidKind(kind)) {
    return { ok: false, reason: 'record kind is malformed' };
  }
  const record: LedgerRecord = {
    v: 1,
    seq: sp.seq,
    ts: sp.ts,
    kind,
    agent: sp.agentEnd < 0 ? null : (JSON.parse(b.toString('utf8', sp.agentStart, sp.agentEnd)) as string),
    payload: JSON.parse(b.toString('utf8', sp.payloadStart, sp.payloadEnd)) as JsonValue,
    prev: b.toString('latin1', sp.prevStart, sp.prevStart + 64),
  };
  return { ok: true, record };
}
