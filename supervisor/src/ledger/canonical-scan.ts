import { isUtf8 } from 'node:buffer';

/**
 * A single-pass validator for RFC 8785 (JCS) canonical JSON over UTF-8 bytes: valid RFC 8259 JSON
 * that is byte-for-byte what the JCS serialiser writes for its own parse result (well-formed
 * UTF-8, no whitespace, minimal string escapes, ECMAScript shortest numbers, object keys strictly
 * ascending by UTF-16 code units). Verification uses it instead of JSON.parse + re-serialise,
 * which the unit tests use as the reference; it allocates nothing on the common path.
 */

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const MAX_DEPTH = 64;

/** Lowercase hex digit values by byte; -1 for anything else. */
const HEX_VALUES = new Int8Array(256).fill(-1);
for (let d = 0; d < 16; d++) {
  HEX_VALUES['0123456789abcdef'.charCodeAt(d)] = d;
}

function hexValue(c: number): number {
  return HEX_VALUES[c] as number;
}

function hex4(b: Uint8Array, i: number): number {
  const a = hexValue(b[i] ?? 0);
  const c = hexValue(b[i + 1] ?? 0);
  const d = hexValue(b[i + 2] ?? 0);
  const e = hexValue(b[i + 3] ?? 0);
  return a < 0 || c < 0 || d < 0 || e < 0 ? -1 : (a << 12) | (c << 8) | (d << 4) | e;
}

/** 1 for the bytes a string can hold as they are without ending or escaping (0x20-0x7f except `"` and `\`). */
const STRING_PLAIN = new Uint8Array(256);
for (let c = 0x20; c < 0x80; c++) {
  STRING_PLAIN[c] = c === QUOTE || c === BACKSLASH ? 0 : 1;
}

/** Set by scanString: whether the last string had an escape or a non-ASCII byte. */
let lastStringPlain = true;

/** End index (past the closing quote) of the canonical string starting at `i`, or -1. */
function scanString(b: Uint8Array, i: number, end: number): number {
  let plain = true;
  i++;
  while (i < end) {
    // Runs of ordinary printable ASCII cost one table load per byte.
    while (i < end && STRING_PLAIN[b[i] as number] === 1) {
      i++;
    }
    if (i >= end) {
      break;
    }
    const c = b[i] as number;
    if (c === QUOTE) {
      lastStringPlain = plain;
      return i + 1;
    }
    if (c < 0x20) {
      return -1;
    }
    if (c >= 0x80) {
      plain = false;
      i++;
      continue;
    }
    if (c !== BACKSLASH) {
      i++;
      continue;
    }
    plain = false;
    const e = b[i + 1];
    // JSON.stringify writes exactly these short escapes: \" \\ \b \f \n \r \t
    if (e === QUOTE || e === BACKSLASH || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
      i += 2;
      continue;
    }
    if (e !== 0x75 || i + 6 > end) {
      return -1;
    }
    const v = hex4(b, i + 2);
    if (v < 0) {
      return -1;
    }
    if (v < 0x20) {
      // Control characters with a short escape must use it.
      if (v === 0x08 || v === 0x09 || v === 0x0a || v === 0x0c || v === 0x0d) {
        return -1;
      }
    } else if (v >= 0xd800 && v <= 0xdbff) {
      // An escaped high surrogate is canonical only when lone; raw UTF-8 never encodes a low one.
      if (b[i + 6] === BACKSLASH && b[i + 7] === 0x75) {
        const lv = hex4(b, i + 8);
        if (lv >= 0xdc00 && lv <= 0xdfff) {
          return -1;
        }
      }
    } else if (v < 0xdc00 || v > 0xdfff) {
      return -1;
    }
    i += 6;
  }
  return -1;
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

function scanNumber(b: Uint8Array, i: number, end: number): number {
  let j = i;
  let simple = true;
  while (j < end) {
    const c = b[j] as number;
    if (isDigit(c)) {
      j++;
    } else if (c === 0x2d || c === 0x2b || c === 0x2e || c === 0x65) {
      simple = simple && c === 0x2d && j === i;
      j++;
    } else {
      break;
    }
  }
  const digits0 = b[i] === 0x2d ? i + 1 : i;
  if (simple && j - digits0 <= 15 && j > digits0) {
    // A plain integer of at most 15 digits is exact; canonical unless it has a leading zero or is -0.
    if (b[digits0] === 0x30) {
      return j - digits0 === 1 && digits0 === i ? j : -1;
    }
    return j;
  }
  const text = Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1', i, j);
  const n = Number(text);
  // ECMAScript Number-to-String is the JCS number form; -0 serialises as 0.
  return Number.isFinite(n) && String(n) === text ? j : -1;
}

/** Compares two canonical JSON string tokens by the UTF-16 code units of their values. */
function keyLess(b: Uint8Array, aStart: number, aEnd: number, aPlain: boolean, bStart: number, bEnd: number, bPlain: boolean): boolean {
  if (aPlain && bPlain) {
    // ASCII without escapes: byte order is code-unit order.
    const la = aEnd - aStart;
    const lb = bEnd - bStart;
    const n = Math.min(la, lb) - 1;
    for (let k = 1; k < n; k++) {
      const x = b[aStart + k] as number;
      const y = b[bStart + k] as number;
      if (x !== y) {
        return x < y;
      }
    }
    return la < lb;
  }
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const ka = JSON.parse(buf.toString('utf8', aStart, aEnd)) as string;
  const kb = JSON.parse(buf.toString('utf8', bStart, bEnd)) as string;
  return ka < kb;
}

function scanObject(b: Uint8Array, i: number, end: number, depth: number): number {
  i++;
  if (b[i] === 0x7d) {
    return i + 1;
  }
  let prevStart = -1;
  let prevEnd = -1;
  let prevPlain = true;
  for (;;) {
    if (b[i] !== QUOTE) {
      return -1;
    }
    const kEnd = scanString(b, i, end);
    if (kEnd < 0) {
      return -1;
    }
    const plain = lastStringPlain;
    if (prevStart >= 0 && !keyLess(b, prevStart, prevEnd, prevPlain, i, kEnd, plain)) {
      return -1;
    }
    prevStart = i;
    prevEnd = kEnd;
    prevPlain = plain;
    if (b[kEnd] !== 0x3a) {
      return -1;
    }
    const vEnd = scanValue(b, kEnd + 1, end, depth + 1);
    if (vEnd < 0) {
      return -1;
    }
    const c = b[vEnd];
    if (c === 0x7d) {
      return vEnd + 1;
    }
    if (c !== 0x2c) {
      return -1;
    }
    i = vEnd + 1;
  }
}

function scanArray(b: Uint8Array, i: number, end: number, depth: number): number {
  i++;
  if (b[i] === 0x5d) {
    return i + 1;
  }
  for (;;) {
    const vEnd = scanValue(b, i, end, depth + 1);
    if (vEnd < 0) {
      return -1;
    }
    const c = b[vEnd];
    if (c === 0x5d) {
      return vEnd + 1;
    }
    if (c !== 0x2c) {
      return -1;
    }
    i = vEnd + 1;
  }
}

function matches(b: Uint8Array, i: number, end: number, lit: string): boolean {
  if (i + lit.length > end) {
    return false;
  }
  for (let k = 0; k < lit.length; k++) {
    if (b[i + k] !== lit.charCodeAt(k)) {
      return false;
    }
  }
  return true;
}

/** End index of the canonical JSON value starting at `i` (not past `end`), or -1. Bytes must be valid UTF-8. */
function scanValue(b: Uint8Array, i: number, end: number, depth: number): number {
  if (depth > MAX_DEPTH || i >= end) {
    return -1;
  }
  const c = b[i] as number;
  switch (c) {
    case 0x7b:
      return scanObject(b, i, end, depth);
    case 0x5b:
      return scanArray(b, i, end, depth);
    case QUOTE:
      return scanString(b, i, end);
    case 0x74:
      return matches(b, i, end, 'true') ? i + 4 : -1;
    case 0x66:
      return matches(b, i, end, 'false') ? i + 5 : -1;
    case 0x6e:
      return matches(b, i, end, 'null') ? i + 4 : -1;
    default:
      return c === 0x2d || isDigit(c) ? scanNumber(b, i, end) : -1;
  }
}

/** Whether `text` (a string, encoded as UTF-8, or UTF-8 bytes) is exactly the RFC 8785 serialisation of a JSON value. */
export function isCanonicalJson(text: string | Uint8Array): boolean {
  const b = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  return isUtf8(b) && scanValue(b, 0, b.length, 0) === b.length;
}

/** Where the top-level fields of a canonical v1 record line are, found without building objects. */
export interface RecordSpans {
  agentStart: number;
  /** -1 when agent is null. */
  agentEnd: number;
  kindStart: number;
  kindEnd: number;
  payloadStart: number;
  payloadEnd: number;
  /** Offset of the 64 hex characters of prev. */
  prevStart: number;
  seq: number;
  ts: number;
}

const P_AGENT = '{"agent":';
const P_KIND = ',"kind":';
const P_PAYLOAD = ',"payload":';
const P_PREV = ',"prev":"';
const P_SEQ = '","seq":';
const P_TS = ',"ts":';
const P_END = ',"v":1}';

function scanUint(b: Uint8Array, i: number, end: number): number {
  let j = i;
  while (j < end && isDigit(b[j])) {
    j++;
  }
  const n = j - i;
  return n === 0 || n > 15 || (n > 1 && b[i] === 0x30) ? -1 : j;
}

function digitsValue(b: Uint8Array, i: number, j: number): number {
  let v = 0;
  for (let k = i; k < j; k++) {
    v = v * 10 + ((b[k] as number) - 0x30);
  }
  return v;
}

/**
 * Validates the record line `b[start, end)` (canonical JSON of exactly the keys agent, kind,
 * payload, prev, seq, ts, v=1 in that order; prev 64 lowercase hex; seq and ts plain
 * non-negative integers) and fills `out` with the field positions. Returns false when invalid.
 * Pass `utf8Checked` when the caller already validated these bytes as UTF-8, and `prevCompared`
 * when it compares prev against a known digest anyway (any non-hex byte then fails that compare).
 */
export function scanRecordSpans(
  b: Uint8Array,
  start: number,
  end: number,
  out: RecordSpans,
  utf8Checked = false,
  prevCompared = false,
): boolean {
  if (!matches(b, start, end, P_AGENT)) {
    return false;
  }
  if (!utf8Checked && !isUtf8(b.subarray(start, end))) {
    return false;
  }
  let i = start + P_AGENT.length;
  if (b[i] === QUOTE) {
    const e = scanString(b, i, end);
    if (e < 0) {
      return false;
    }
    out.agentStart = i;
    out.agentEnd = e;
    i = e;
  } else if (matches(b, i, end, 'null')) {
    out.agentStart = i;
    out.agentEnd = -1;
    i += 4;
  } else {
    return false;
  }
  if (!matches(b, i, end, P_KIND) || b[i + P_KIND.length] !== QUOTE) {
    return false;
  }
  i += P_KIND.length;
  const kindEnd = scanString(b, i, end);
  if (kindEnd < 0) {
    return false;
  }
  out.kindStart = i;
  out.kindEnd = kindEnd;
  if (!matches(b, kindEnd, end, P_PAYLOAD)) {
    return false;
  }
  const pStart = kindEnd + P_PAYLOAD.length;
  const pEnd = scanValue(b, pStart, end, 0);
  if (pEnd < 0 || !matches(b, pEnd, end, P_PREV)) {
    return false;
  }
  const prevStart = pEnd + P_PREV.length;
  for (let k = prevStart; !prevCompared && k < prevStart + 64; k++) {
    if (hexValue(b[k] ?? 0) < 0) {
      return false;
    }
  }
  if (!matches(b, prevStart + 64, end, P_SEQ)) {
    return false;
  }
  const seqStart = prevStart + 64 + P_SEQ.length;
  const seqEnd = scanUint(b, seqStart, end);
  if (seqEnd < 0 || !matches(b, seqEnd, end, P_TS)) {
    return false;
  }
  const tsStart = seqEnd + P_TS.length;
  const tsEnd = scanUint(b, tsStart, end);
  if (tsEnd < 0 || tsEnd + P_END.length !== end || !matches(b, tsEnd, end, P_END)) {
    return false;
  }
  out.payloadStart = pStart;
  out.payloadEnd = pEnd;
  out.prevStart = prevStart;
  out.seq = digitsValue(b, seqStart, seqEnd);
  out.ts = digitsValue(b, tsStart, tsEnd);
  return true;
}

/** Whether the 64 hex characters at `b[at]` spell `digest` (32 bytes as a latin1 string). */
export function hexEquals(b: Uint8Array, at: number, digest: string): boolean {
  for (let k = 0; k < 32; k++) {
    if (((hexValue(b[at + 2 * k] as number) << 4) | hexValue(b[at + 2 * k + 1] as number)) !== digest.charCodeAt(k)) {
      return false;
    }
  }
  return true;
}

/** A fresh, empty {@link RecordSpans}. */
export function newRecordSpans(): RecordSpans {
  return { agentStart: 0, agentEnd: 0, kindStart: 0, kindEnd: 0, payloadStart: 0, payloadEnd: 0, prevStart: 0, seq: 0, ts: 0 };
}
