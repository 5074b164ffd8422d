/**
 * A precompiled codec for the two messages of the agent Session stream (`eos.agent.v1.SessionRequest`
 * and `SessionResponse`), the hot path of every emit, event, ack and act, and for the three of an
 * agent's start (`BootstrapParams`, `HelloRequest`, `HelloResponse`).
 *
 * It takes and gives the same plain objects as the generic codec in `load.ts` (protobufjs
 * `fromObject` + `encode`, `decode` + `toObject` with longs as numbers, enums as names, defaults and
 * the oneof field), and writes the same bytes, but without the intermediate message objects, the
 * `Long` object per 64-bit field or protobufjs's list of write operations: encoding measures the
 * frame once (lengths of nested messages and strings remembered in a scratch array), allocates one
 * buffer and writes it; decoding reads straight into the output objects. The field tables below
 * mirror `eos/agent/v1/agent.proto`; `proto/test/session-codec.test.ts` checks bytes and decoded
 * objects against the generic codec for every frame variant.
 *
 * Differences from the generic codec, all on input the agent protocol never produces: a string
 * holding a lone UTF-16 surrogate is written as U+FFFD (as Node writes it; protobufjs writes the
 * surrogate's own three bytes when the string is shorter than 40 characters); and the decoder,
 * which reads what agents write, refuses rather than guesses: a known field with the wrong wire
 * type, a field key that does not fit 32 bits or names field 0, a length past 32 bits, and a
 * six- to nine-byte varint in a 32-bit field (protobufjs skips to the tenth byte of those, so
 * the two would read different fields). The mutation test in `session-codec.test.ts` holds the
 * rule: whatever protobufjs refuses, this codec refuses; whatever both decode, they decode alike.
 */

type Kind = 'string' | 'bytes' | 'uint64' | 'int64' | 'uint32' | 'enum' | 'message';

interface FieldSpec {
  readonly no: number;
  readonly name: string;
  readonly kind: Kind;
  readonly repeated: boolean;
  /** Member of the message's oneof. */
  readonly oneof: boolean;
  /**
   * For a repeated message field the decoder fills from untrusted input: entries past this many
   * are skipped without being built, and only counted (see {@link sessionEntryCount}).
   */
  readonly keep: number | undefined;
  /** The (key << 3 | wire type) byte: every field number here is below 16. */
  readonly tag: number;
  /** For kind 'message'. */
  type: MessageSpec | undefined;
}

interface MessageSpec {
  readonly name: string;
  readonly fields: readonly FieldSpec[];
  /** Fields by number. */
  readonly byNo: readonly (FieldSpec | undefined)[];
  /** Name of the oneof's virtual field ("frame"), when the message has one. */
  readonly oneof: string | undefined;
  /** A hand-written reader for the hot messages (emits, events, their auth); else the table decides. */
  read: ((end: number) => object) | undefined;
  /** Hand-written measuring and writing passes for the same messages (same lengths pushed and taken). */
  size: ((o: Record<string, unknown>) => number) | undefined;
  put: ((o: Record<string, unknown>) => void) | undefined;
}

/** The enum `eos.agent.v1.Priority`, by number. */
const PRIORITY_NAMES: readonly string[] = ['PRIORITY_UNSPECIFIED', 'PRIORITY_LOW', 'PRIORITY_NORMAL', 'PRIORITY_HIGH', 'PRIORITY_CRITICAL'];
const PRIORITY_NUMBERS: ReadonlyMap<string, number> = new Map(PRIORITY_NAMES.map((n, i) => [n, i]));

const EMPTY_BYTES = Buffer.alloc(0);

function wireType(kind: Kind): number {
  switch (kind) {
    case 'uint64':
    case 'int64':
    case 'uint32':
    case 'enum':
      return 0;
    default:
      return 2;
  }
}

function field(no: number, name: string, kind: Kind, opts: { repeated?: boolean; oneof?: boolean; type?: MessageSpec; keep?: number } = {}): FieldSpec {
  return { no, name, kind, repeated: opts.repeated ?? false, oneof: opts.oneof ?? false, tag: (no << 3) | wireType(kind), type: opts.type, keep: opts.keep };
}

function message(name: string, fields: FieldSpec[], oneof?: string): MessageSpec {
  const byNo: (FieldSpec | undefined)[] = [];
  for (const f of fields) {
    byNo[f.no] = f;
  }
  return { name, fields, byNo, oneof, read: undefined, size: undefined, put: undefined };
}

const CALL_AUTH = message('CallAuth', [field(1, 'nonce', 'uint64'), field(2, 'timestampMs', 'int64'), field(3, 'mac', 'bytes')]);
const ERROR_INFO = message('ErrorInfo', [field(1, 'code', 'string'), field(2, 'message', 'string')]);
const auth = (): FieldSpec => field(1, 'auth', 'message', { type: CALL_AUTH });
const EMIT = message('Emit', [auth(), field(2, 'channel', 'string'), field(3, 'priority', 'enum'), field(4, 'body', 'bytes')]);
const ACT_REQUEST = message('ActRequest', [auth(), field(2, 'channel', 'string'), field(3, 'priority', 'enum'), field(4, 'body', 'bytes')]);

/**
 * Emits or acts one Session frame may carry. More is a protocol violation that ends the session
 * (agent-host sends at most 256). The decoder builds at most one entry more than this, so that the
 * supervisor sees the violation, and only counts the rest: an 8 MiB frame of four million empty
 * entries costs a scan, not four million objects (STRIDE D-7).
 */
export const MAX_SESSION_FRAME_ENTRIES = 1024;

/** Entries counted, not built, by the decoder, by the array that holds the ones it built. */
const entryCounts = new WeakMap<readonly unknown[], number>();

/**
 * How many entries the decoded frame carried in `entries` (an EmitBatch's `emits` or an
 * ActBatch's `acts`): its length, or more when the decoder stopped building them past
 * {@link MAX_SESSION_FRAME_ENTRIES}.
 */
export function sessionEntryCount(entries: readonly unknown[]): number {
  return entryCounts.get(entries) ?? entries.length;
}

const SESSION_REQUEST = message(
  'SessionRequest',
  [
    field(1, 'emits', 'message', { oneof: true, type: message('EmitBatch', [field(1, 'emits', 'message', { repeated: true, type: EMIT, keep: MAX_SESSION_FRAME_ENTRIES + 1 })]) }),
    field(2, 'subscribe', 'message', { oneof: true, type: message('Subscribe', [auth(), field(2, 'channel', 'string')]) }),
    field(3, 'log', 'message', { oneof: true, type: message('LogRecord', [auth(), field(2, 'level', 'string'), field(3, 'body', 'bytes')]) }),
    field(4, 'heartbeat', 'message', { oneof: true, type: message('Heartbeat', [auth(), field(2, 'body', 'bytes')]) }),
    field(5, 'ready', 'message', { oneof: true, type: message('Ready', [auth()]) }),
    field(6, 'acts', 'message', { oneof: true, type: message('ActBatch', [field(1, 'acts', 'message', { repeated: true, type: ACT_REQUEST, keep: MAX_SESSION_FRAME_ENTRIES + 1 })]) }),
  ],
  'frame',
);

const EVENT = message('Event', [
  field(1, 'id', 'string'),
  field(2, 'channel', 'string'),
  field(3, 'source', 'string'),
  field(4, 'priority', 'enum'),
  field(5, 'timestampMs', 'int64'),
  field(6, 'body', 'bytes'),
]);
const EMIT_REJECTION = message('EmitRejection', [field(1, 'nonce', 'uint64'), field(2, 'error', 'message', { type: ERROR_INFO })]);
const ACT_RESULT = message('ActResult', [
  field(1, 'nonce', 'uint64'),
  field(2, 'eventId', 'string'),
  field(3, 'ledgerSeq', 'uint64'),
  field(4, 'error', 'message', { type: ERROR_INFO }),
]);

const SESSION_RESPONSE = message(
  'SessionResponse',
  [
    field(1, 'events', 'message', { oneof: true, type: message('EventBatch', [field(1, 'events', 'message', { repeated: true, type: EVENT })]) }),
    field(2, 'acks', 'message', {
      oneof: true,
      type: message('EmitAcks', [field(1, 'throughNonce', 'uint64'), field(2, 'rejected', 'message', { repeated: true, type: EMIT_REJECTION })]),
    }),
    field(3, 'subscribed', 'message', { oneof: true, type: message('SubscribeResult', [field(1, 'nonce', 'uint64'), field(2, 'error', 'message', { type: ERROR_INFO })]) }),
    field(4, 'shutdown', 'message', { oneof: true, type: message('Shutdown', [field(1, 'graceMs', 'uint32'), field(2, 'reason', 'string')]) }),
    field(5, 'actResults', 'message', { oneof: true, type: message('ActResults', [field(1, 'results', 'message', { repeated: true, type: ACT_RESULT })]) }),
  ],
  'frame',
);

// The three messages of an agent's start, so that agent-host reaches Ready without building a
// protobufjs Root (about 5 ms of every start, P5 in docs/performance.md).
const BOOTSTRAP_PARAMS = message('BootstrapParams', [
  field(1, 'protocolVersion', 'uint32'),
  field(2, 'agentId', 'string'),
  field(3, 'socketPath', 'string'),
  field(4, 'sessionKey', 'bytes'),
  field(5, 'packageDir', 'string'),
]);
const HELLO_REQUEST = message('HelloRequest', [auth(), field(2, 'protocolVersion', 'uint32'), field(3, 'pid', 'uint32')]);
const HELLO_RESPONSE = message('HelloResponse', [
  field(1, 'agentId', 'string'),
  field(2, 'manifestJson', 'bytes'),
  field(3, 'entryPath', 'string'),
  field(4, 'tickRateMs', 'uint32'),
  field(5, 'heartbeatIntervalMs', 'uint32'),
  field(6, 'protocolVersion', 'uint32'),
]);

// ---------------------------------------------------------------------------------------------
// 64-bit values. protobufjs turns a number into a Long with Long.fromValue (signed: NaN is 0,
// truncated toward zero, saturated at ±2^63) and writes its 64 bits; the same rule here, as two
// unsigned 32-bit halves in module scratch variables (no allocation per value).

const TWO_32 = 4294967296;
const TWO_63 = 9223372036854775808;
const TWO_64 = 18446744073709551616;
let lo64 = 0;
let hi64 = 0;

function bitsOfBigInt(v: bigint): void {
  const u = BigInt.asUintN(64, v);
  lo64 = Number(u & 0xffffffffn);
  hi64 = Number(u >> 32n);
}

/**
 * Sets lo64/hi64 from a value a caller may pass for a 64-bit field; false when it is skipped.
 * Numbers follow `Long.fromValue(v, unsigned)` as protobufjs's `fromObject` calls it: NaN is 0,
 * fractions are truncated toward zero, and out-of-range values saturate (uint64: negative is 0,
 * 2^64 and above all ones; int64: at ±2^63).
 */
function bits64(v: unknown, unsigned: boolean): boolean {
  if (typeof v === 'number') {
    if (Number.isNaN(v) || (unsigned && v < 0)) {
      lo64 = 0;
      hi64 = 0;
    } else if (v >= 0) {
      if (v >= (unsigned ? TWO_64 : TWO_63)) {
        lo64 = 0xffffffff;
        hi64 = unsigned ? 0xffffffff : 0x7fffffff;
      } else {
        lo64 = v % TWO_32 >>> 0;
        hi64 = (v / TWO_32) >>> 0;
      }
    } else if (v <= -TWO_63) {
      lo64 = 0;
      hi64 = 0x80000000;
    } else {
      // Two's complement of the truncated magnitude.
      let lo = -v % TWO_32 >>> 0;
      let hi = (-v / TWO_32) >>> 0;
      lo = ~lo >>> 0;
      hi = ~hi >>> 0;
      if (lo === 0xffffffff) {
        lo = 0;
        hi = (hi + 1) >>> 0;
      } else {
        lo = lo + 1;
      }
      lo64 = lo;
      hi64 = hi;
    }
    return true;
  }
  if (typeof v === 'bigint') {
    bitsOfBigInt(v);
    return true;
  }
  if (typeof v === 'string') {
    bitsOfBigInt(BigInt(v));
    return true;
  }
  if (typeof v === 'object' && v !== null && typeof (v as { low?: unknown }).low === 'number') {
    const l = v as { low: number; high: number };
    lo64 = l.low >>> 0;
    hi64 = l.high >>> 0;
    return true;
  }
  return false;
}

function varint64Size(lo: number, hi: number): number {
  if (hi === 0) {
    return varint32Size(lo);
  }
  // Bits above the low 28 come from both halves; 7 bits per byte.
  const part1 = ((lo >>> 28) | (hi << 4)) >>> 0;
  const part2 = hi >>> 24;
  if (part2 === 0) {
    return part1 < 1 << 7 ? 5 : part1 < 1 << 14 ? 6 : part1 < 1 << 21 ? 7 : 8;
  }
  return part2 < 1 << 7 ? 9 : 10;
}

function varint32Size(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}

/** An enum value as protobufjs's `fromObject` takes it: a known name or any number (as int32); else skipped. */
function enumNumber(v: unknown): number | undefined {
  if (typeof v === 'number') {
    return v | 0;
  }
  return typeof v === 'string' ? PRIORITY_NUMBERS.get(v) : undefined;
}

/** protobufjs's int32 write: negative values as 10-byte sign-extended varints, others as uint32. */
function enumBits(n: number): void {
  if (n < 0) {
    bits64(n, false);
  } else {
    lo64 = n >>> 0;
    hi64 = 0;
  }
}

function bytesOf(v: unknown): Uint8Array | undefined {
  if (v instanceof Uint8Array) {
    return v;
  }
  if (typeof v === 'string') {
    return Buffer.from(v, 'base64');
  }
  if (Array.isArray(v)) {
    return Uint8Array.from(v as number[]);
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Encoding: a measuring pass, then a writing pass over the same fields in the same order.

/** Lengths of nested messages and strings, in the order the writing pass needs them. */
let lens: number[] = [];
let lensAt = 0;

function checkObject(v: unknown, spec: MessageSpec, name: string): object {
  if (typeof v !== 'object' || v === null) {
    throw new TypeError(`${spec.name}.${name}: object expected`);
  }
  return v;
}

function measure(spec: MessageSpec, obj: object): number {
  const o = obj as Record<string, unknown>;
  let size = 0;
  for (const f of spec.fields) {
    const v = o[f.name];
    if (v === undefined || v === null) {
      continue;
    }
    if (f.repeated) {
      if (!Array.isArray(v)) {
        throw new TypeError(`${spec.name}.${f.name}: array expected`);
      }
      const type = f.type as MessageSpec;
      for (const item of v as unknown[]) {
        const at = lens.length;
        lens.push(0);
        const o = checkObject(item, spec, f.name) as Record<string, unknown>;
        const n = type.size === undefined ? measure(type, o) : type.size(o);
        lens[at] = n;
        size += 1 + varint32Size(n) + n;
      }
      continue;
    }
    switch (f.kind) {
      case 'message': {
        const at = lens.length;
        lens.push(0);
        const type = f.type as MessageSpec;
        const sub = checkObject(v, spec, f.name) as Record<string, unknown>;
        const n = type.size === undefined ? measure(type, sub) : type.size(sub);
        lens[at] = n;
        size += 1 + varint32Size(n) + n;
        break;
      }
      case 'string': {
        const s = typeof v === 'string' ? v : String(v);
        const n = utf8Length(s);
        lens.push(n);
        size += 1 + varint32Size(n) + n;
        break;
      }
      case 'bytes': {
        const b = bytesOf(v);
        if (b !== undefined) {
          size += 1 + varint32Size(b.length) + b.length;
        }
        break;
      }
      case 'uint64':
      case 'int64':
        if (bits64(v, f.kind === 'uint64')) {
          size += 1 + varint64Size(lo64, hi64);
        }
        break;
      case 'uint32':
        size += 1 + varint32Size(Number(v) >>> 0);
        break;
      case 'enum': {
        const n = enumNumber(v);
        if (n !== undefined) {
          enumBits(n);
          size += 1 + varint64Size(lo64, hi64);
        }
        break;
      }
    }
  }
  return size;
}

let out: Buffer = EMPTY_BYTES;
let pos = 0;

function writeVarint32(v: number): void {
  while (v > 127) {
    out[pos++] = (v & 127) | 128;
    v >>>= 7;
  }
  out[pos++] = v;
}

function writeVarint64(lo: number, hi: number): void {
  while (hi !== 0) {
    out[pos++] = (lo & 127) | 128;
    lo = ((lo >>> 7) | (hi << 25)) >>> 0;
    hi >>>= 7;
  }
  writeVarint32(lo);
}

function writeString(s: string, n: number): void {
  writeVarint32(n);
  if (n === s.length && n < 64) {
    // ASCII: one store per character beats the native call for the short strings (channels, ids).
    for (let i = 0; i < n; i++) {
      out[pos++] = s.charCodeAt(i);
    }
  } else {
    pos += out.write(s, pos, n, 'utf8');
  }
}

function writeBytes(b: Uint8Array): void {
  const n = b.length;
  writeVarint32(n);
  if (n < 40) {
    for (let i = 0; i < n; i++) {
      out[pos++] = b[i] as number;
    }
  } else {
    out.set(b, pos);
    pos += n;
  }
}

function write(spec: MessageSpec, obj: object): void {
  const o = obj as Record<string, unknown>;
  for (const f of spec.fields) {
    const v = o[f.name];
    if (v === undefined || v === null) {
      continue;
    }
    if (f.repeated) {
      const type = f.type as MessageSpec;
      for (const item of v as object[]) {
        out[pos++] = f.tag;
        writeVarint32(lens[lensAt++] as number);
        if (type.put === undefined) {
          write(type, item);
        } else {
          type.put(item as Record<string, unknown>);
        }
      }
      continue;
    }
    switch (f.kind) {
      case 'message':
        out[pos++] = f.tag;
        writeVarint32(lens[lensAt++] as number);
        putMessage(f.type as MessageSpec, v as Record<string, unknown>);
        break;
      case 'string':
        out[pos++] = f.tag;
        writeString(typeof v === 'string' ? v : String(v), lens[lensAt++] as number);
        break;
      case 'bytes': {
        const b = bytesOf(v);
        if (b !== undefined) {
          out[pos++] = f.tag;
          writeBytes(b);
        }
        break;
      }
      case 'uint64':
      case 'int64':
        if (bits64(v, f.kind === 'uint64')) {
          out[pos++] = f.tag;
          writeVarint64(lo64, hi64);
        }
        break;
      case 'uint32':
        out[pos++] = f.tag;
        writeVarint32(Number(v) >>> 0);
        break;
      case 'enum': {
        const n = enumNumber(v);
        if (n !== undefined) {
          enumBits(n);
          out[pos++] = f.tag;
          writeVarint64(lo64, hi64);
        }
        break;
      }
    }
  }
}

function putMessage(type: MessageSpec, v: Record<string, unknown>): void {
  if (type.put === undefined) {
    write(type, v);
  } else {
    type.put(v);
  }
}

/** UTF-8 length; short ASCII strings (channels, ids) without the native call. */
function utf8Length(s: string): number {
  const n = s.length;
  if (n < 64) {
    let i = 0;
    while (i < n && s.charCodeAt(i) < 0x80) {
      i++;
    }
    if (i === n) {
      return n;
    }
  }
  return Buffer.byteLength(s, 'utf8');
}

// Hand-written passes for the messages every event passes through (CallAuth, Emit/ActRequest,
// Event): the rules of measure/write above, without the field loop and keyed property loads.

function sizeString(v: unknown): number {
  const n = utf8Length(typeof v === 'string' ? v : String(v));
  lens.push(n);
  return 1 + varint32Size(n) + n;
}

function putString(tag: number, v: unknown): void {
  out[pos++] = tag;
  writeString(typeof v === 'string' ? v : String(v), lens[lensAt++] as number);
}

function sizeBytes(v: unknown): number {
  const b = bytesOf(v);
  return b === undefined ? 0 : 1 + varint32Size(b.length) + b.length;
}

function putBytes(tag: number, v: unknown): void {
  const b = bytesOf(v);
  if (b !== undefined) {
    out[pos++] = tag;
    writeBytes(b);
  }
}

function size64(v: unknown, unsigned: boolean): number {
  return bits64(v, unsigned) ? 1 + varint64Size(lo64, hi64) : 0;
}

function put64(tag: number, v: unknown, unsigned: boolean): void {
  if (bits64(v, unsigned)) {
    out[pos++] = tag;
    writeVarint64(lo64, hi64);
  }
}

function sizeEnum(v: unknown): number {
  const n = enumNumber(v);
  if (n === undefined) {
    return 0;
  }
  enumBits(n);
  return 1 + varint64Size(lo64, hi64);
}

function putEnum(tag: number, v: unknown): void {
  const n = enumNumber(v);
  if (n !== undefined) {
    enumBits(n);
    out[pos++] = tag;
    writeVarint64(lo64, hi64);
  }
}

function isSet(v: unknown): boolean {
  return v !== undefined && v !== null;
}

function sizeCallAuth(a: Record<string, unknown>): number {
  const { nonce, timestampMs, mac } = a;
  return (!isSet(nonce) ? 0 : size64(nonce, true)) + (!isSet(timestampMs) ? 0 : size64(timestampMs, false)) + (!isSet(mac) ? 0 : sizeBytes(mac));
}

function putCallAuth(a: Record<string, unknown>): void {
  const { nonce, timestampMs, mac } = a;
  if (isSet(nonce)) {
    put64((1 << 3) | 0, nonce, true);
  }
  if (isSet(timestampMs)) {
    put64((2 << 3) | 0, timestampMs, false);
  }
  if (isSet(mac)) {
    putBytes((3 << 3) | 2, mac);
  }
}

/** Emit and ActRequest: auth = 1, channel = 2, priority = 3, body = 4. */
function sizeEmitLike(spec: MessageSpec): (e: Record<string, unknown>) => number {
  return (e) => {
    const { auth, channel, priority, body } = e;
    let size = 0;
    if (isSet(auth)) {
      const at = lens.length;
      lens.push(0);
      const n = sizeCallAuth(checkObject(auth, spec, 'auth') as Record<string, unknown>);
      lens[at] = n;
      size += 1 + varint32Size(n) + n;
    }
    if (isSet(channel)) {
      size += sizeString(channel);
    }
    if (isSet(priority)) {
      size += sizeEnum(priority);
    }
    if (isSet(body)) {
      size += sizeBytes(body);
    }
    return size;
  };
}

function putEmitLike(e: Record<string, unknown>): void {
  const { auth, channel, priority, body } = e;
  if (isSet(auth)) {
    out[pos++] = (1 << 3) | 2;
    writeVarint32(lens[lensAt++] as number);
    putCallAuth(auth as Record<string, unknown>);
  }
  if (isSet(channel)) {
    putString((2 << 3) | 2, channel);
  }
  if (isSet(priority)) {
    putEnum((3 << 3) | 0, priority);
  }
  if (isSet(body)) {
    putBytes((4 << 3) | 2, body);
  }
}

function sizeEvent(e: Record<string, unknown>): number {
  const { id, channel, source, priority, timestampMs, body } = e;
  return (
    (!isSet(id) ? 0 : sizeString(id)) +
    (!isSet(channel) ? 0 : sizeString(channel)) +
    (!isSet(source) ? 0 : sizeString(source)) +
    (!isSet(priority) ? 0 : sizeEnum(priority)) +
    (!isSet(timestampMs) ? 0 : size64(timestampMs, false)) +
    (!isSet(body) ? 0 : sizeBytes(body))
  );
}

function putEvent(e: Record<string, unknown>): void {
  const { id, channel, source, priority, timestampMs, body } = e;
  if (isSet(id)) {
    putString((1 << 3) | 2, id);
  }
  if (isSet(channel)) {
    putString((2 << 3) | 2, channel);
  }
  if (isSet(source)) {
    putString((3 << 3) | 2, source);
  }
  if (isSet(priority)) {
    putEnum((4 << 3) | 0, priority);
  }
  if (isSet(timestampMs)) {
    put64((5 << 3) | 0, timestampMs, false);
  }
  if (isSet(body)) {
    putBytes((6 << 3) | 2, body);
  }
}

CALL_AUTH.size = sizeCallAuth;
CALL_AUTH.put = putCallAuth;
EMIT.size = sizeEmitLike(EMIT);
EMIT.put = putEmitLike;
ACT_REQUEST.size = sizeEmitLike(ACT_REQUEST);
ACT_REQUEST.put = putEmitLike;
EVENT.size = sizeEvent;
EVENT.put = putEvent;

function encode(spec: MessageSpec, value: object): Buffer {
  if (Array.isArray(value)) {
    throw new TypeError(`cannot serialize an array as eos.agent.v1.${spec.name}`);
  }
  lens.length = 0;
  lensAt = 0;
  try {
    const size = measure(spec, value);
    const buf = Buffer.allocUnsafe(size);
    out = buf;
    pos = 0;
    write(spec, value);
    if (pos !== size) {
      throw new Error(`session codec wrote ${pos} bytes of a ${size}-byte ${spec.name}`);
    }
    return buf;
  } finally {
    out = EMPTY_BYTES;
    if (lens.length > 4096) {
      // Do not keep a huge scratch array alive after one very large frame.
      lens = [];
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding.

let inp: Buffer = EMPTY_BYTES;
let at = 0;

function outOfRange(): never {
  throw new RangeError('index out of range: truncated eos.agent.v1 session frame');
}

/** Reads a varint into lo64/hi64. */
function readVarint64(end: number): void {
  let lo = 0;
  let hi = 0;
  let shift = 0;
  for (;;) {
    if (at >= end) {
      outOfRange();
    }
    const b = inp[at++] as number;
    if (shift < 28) {
      lo |= (b & 127) << shift;
    } else if (shift === 28) {
      lo |= (b & 15) << 28;
      hi |= (b & 127) >>> 4;
    } else if (shift < 64) {
      hi |= (b & 127) << (shift - 32);
    } else {
      throw new RangeError('invalid varint encoding in eos.agent.v1 session frame');
    }
    if (b < 128) {
      break;
    }
    shift += 7;
  }
  lo64 = lo >>> 0;
  hi64 = hi >>> 0;
}

/**
 * Reads a 32-bit varint field (enum, uint32) and keeps its low 32 bits. Encoders write these in at
 * most five bytes, or ten for a negative int32; a six- to nine-byte one is refused, because
 * protobufjs reads it differently (it skips to the tenth byte) and the two must not disagree.
 */
function readVarint32(end: number): number {
  if (at < end) {
    const b = inp[at] as number;
    if (b < 128) {
      at++;
      return b;
    }
  }
  const start = at;
  readVarint64(end);
  const n = at - start;
  if (n > 5 && n < 10) {
    throw new RangeError('over-long 32-bit varint in eos.agent.v1 session frame');
  }
  return lo64;
}

/**
 * Reads a field key. Stricter than protobufjs, which reads any varint of up to ten bytes and keeps
 * its low 32 bits: a key must fit in 32 bits and name a field number of 1 or more, so that no
 * over-long or zero key is read as a different field.
 */
function readTag(end: number): number {
  if (at < end) {
    const b = inp[at] as number;
    if (b < 128 && b >= 8) {
      at++;
      return b;
    }
  }
  readVarint64(end);
  if (hi64 !== 0 || lo64 < 8) {
    throw new RangeError('invalid field key in eos.agent.v1 session frame');
  }
  return lo64;
}

function readLength(end: number): number {
  readVarint64(end);
  const n = lo64;
  if (hi64 !== 0 || at + n > end) {
    outOfRange();
  }
  return n;
}

function skipField(wire: number, end: number): void {
  switch (wire) {
    case 0:
      readVarint64(end);
      return;
    case 1:
      at += 8;
      break;
    case 2: {
      // Not `at += readLength(end)`: that adds to the position from before the length was read.
      const n = readLength(end);
      at += n;
      return;
    }
    case 3:
      for (;;) {
        const tag = readTag(end);
        if ((tag & 7) === 4) {
          return;
        }
        skipField(tag & 7, end);
      }
    case 5:
      at += 4;
      break;
    default:
      throw new Error(`invalid wire type ${wire} in eos.agent.v1 session frame`);
  }
  if (at > end) {
    outOfRange();
  }
}

function defaults(spec: MessageSpec): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const f of spec.fields) {
    if (f.oneof) {
      continue;
    }
    if (f.repeated) {
      o[f.name] = [];
      continue;
    }
    switch (f.kind) {
      case 'message':
        o[f.name] = null;
        break;
      case 'string':
        o[f.name] = '';
        break;
      case 'bytes':
        o[f.name] = Buffer.alloc(0);
        break;
      case 'enum':
        o[f.name] = PRIORITY_NAMES[0];
        break;
      default:
        o[f.name] = 0;
    }
  }
  return o;
}

function readMessage(spec: MessageSpec, end: number): Record<string, unknown> {
  const o = defaults(spec);
  let oneofNo = 0;
  while (at < end) {
    const tag = readTag(end);
    const no = tag >>> 3;
    const wire = tag & 7;
    const f = spec.byNo[no];
    if (f === undefined) {
      skipField(wire, end);
      continue;
    }
    if (wire !== (f.tag & 7)) {
      wrongWireType(spec, no, wire);
    }
    switch (f.kind) {
      case 'message': {
        const n = readLength(end);
        const list = f.repeated ? (o[f.name] as unknown[]) : undefined;
        if (list !== undefined && f.keep !== undefined && list.length >= f.keep) {
          // Past the cap: counted, not built (the length was checked against the end above).
          at += n;
          entryCounts.set(list, (entryCounts.get(list) ?? list.length) + 1);
          break;
        }
        const type = f.type as MessageSpec;
        const v = type.read === undefined ? readMessage(type, at + n) : type.read(at + n);
        if (list !== undefined) {
          list.push(v);
        } else {
          o[f.name] = v;
          if (f.oneof && f.no > oneofNo) {
            oneofNo = f.no;
          }
        }
        break;
      }
      case 'string': {
        const n = readLength(end);
        o[f.name] = readString(n);
        break;
      }
      case 'bytes':
        o[f.name] = readBytes(readLength(end));
        break;
      case 'uint64':
        readVarint64(end);
        o[f.name] = lo64 + hi64 * TWO_32;
        break;
      case 'int64':
        readVarint64(end);
        o[f.name] = signed64(lo64, hi64);
        break;
      case 'uint32':
        o[f.name] = readVarint32(end);
        break;
      case 'enum': {
        const n = readVarint32(end) | 0;
        o[f.name] = PRIORITY_NAMES[n] ?? n;
        break;
      }
    }
  }
  if (at !== end) {
    outOfRange();
  }
  if (spec.oneof !== undefined && oneofNo !== 0) {
    o[spec.oneof] = (spec.byNo[oneofNo] as FieldSpec).name;
  }
  return o;
}

/** Node's own UTF-8 slice, which `toString('utf8', …)` ends in after checking its arguments. */
interface NodeBuffer extends Buffer {
  utf8Slice(start: number, end: number): string;
}

function readString(n: number): string {
  const s = n === 0 ? '' : (inp as NodeBuffer).utf8Slice(at, at + n);
  at += n;
  return s;
}

/** A view into the frame, as protobufjs's reader gives (no copy); a fresh empty Buffer when empty. */
function readBytes(n: number): Buffer {
  const b = n === 0 ? Buffer.alloc(0) : inp.subarray(at, at + n);
  at += n;
  return b;
}

function wrongWireType(spec: MessageSpec, no: number, wire: number): never {
  throw new Error(`${spec.name}.${(spec.byNo[no] as FieldSpec).name} has wire type ${wire} in an eos.agent.v1 session frame`);
}

// Hand-written readers of the messages every event passes through: the same result as readMessage
// (tested against the generic codec), with object literals of a fixed shape instead of keyed stores.

function readCallAuth(end: number): object {
  let nonce = 0;
  let timestampMs = 0;
  let mac: Buffer | undefined;
  while (at < end) {
    const tag = readTag(end);
    switch (tag) {
      case (1 << 3) | 0:
        readVarint64(end);
        nonce = lo64 + hi64 * TWO_32;
        break;
      case (2 << 3) | 0:
        readVarint64(end);
        timestampMs = signed64(lo64, hi64);
        break;
      case (3 << 3) | 2:
        mac = readBytes(readLength(end));
        break;
      default:
        checkUnknown(CALL_AUTH, tag);
        skipField(tag & 7, end);
    }
  }
  if (at !== end) {
    outOfRange();
  }
  return { nonce, timestampMs, mac: mac ?? Buffer.alloc(0) };
}

/** Emit and ActRequest: auth = 1, channel = 2, priority = 3, body = 4. */
function emitReader(spec: MessageSpec): (end: number) => object {
  return (end) => {
    let auth: object | null = null;
    let channel = '';
    let priority: string | number = 'PRIORITY_UNSPECIFIED';
    let body: Buffer | undefined;
    while (at < end) {
      const tag = readTag(end);
      switch (tag) {
        case (1 << 3) | 2: {
          const n = readLength(end);
          auth = readCallAuth(at + n);
          break;
        }
        case (2 << 3) | 2:
          channel = readString(readLength(end));
          break;
        case (3 << 3) | 0: {
          const p = readVarint32(end) | 0;
          priority = PRIORITY_NAMES[p] ?? p;
          break;
        }
        case (4 << 3) | 2:
          body = readBytes(readLength(end));
          break;
        default:
          checkUnknown(spec, tag);
          skipField(tag & 7, end);
      }
    }
    if (at !== end) {
      outOfRange();
    }
    return { auth, channel, priority, body: body ?? Buffer.alloc(0) };
  };
}

function readEvent(end: number): object {
  let id = '';
  let channel = '';
  let source = '';
  let priority: string | number = 'PRIORITY_UNSPECIFIED';
  let timestampMs = 0;
  let body: Buffer | undefined;
  while (at < end) {
    const tag = readTag(end);
    switch (tag) {
      case (1 << 3) | 2:
        id = readString(readLength(end));
        break;
      case (2 << 3) | 2:
        channel = readString(readLength(end));
        break;
      case (3 << 3) | 2:
        source = readString(readLength(end));
        break;
      case (4 << 3) | 0: {
        const p = readVarint32(end) | 0;
        priority = PRIORITY_NAMES[p] ?? p;
        break;
      }
      case (5 << 3) | 0:
        readVarint64(end);
        timestampMs = signed64(lo64, hi64);
        break;
      case (6 << 3) | 2:
        body = readBytes(readLength(end));
        break;
      default:
        checkUnknown(EVENT, tag);
        skipField(tag & 7, end);
    }
  }
  if (at !== end) {
    outOfRange();
  }
  return { id, channel, source, priority, timestampMs, body: body ?? Buffer.alloc(0) };
}

/** A tag no case matched: an unknown field (skipped), or a known one with the wrong wire type (rejected). */
function checkUnknown(spec: MessageSpec, tag: number): void {
  const no = tag >>> 3;
  if (spec.byNo[no] !== undefined) {
    wrongWireType(spec, no, tag & 7);
  }
}

CALL_AUTH.read = readCallAuth;
EMIT.read = emitReader(EMIT);
ACT_REQUEST.read = emitReader(ACT_REQUEST);
EVENT.read = readEvent;

function signed64(lo: number, hi: number): number {
  if (hi >>> 31 === 0) {
    return lo + hi * TWO_32;
  }
  const l = (~lo + 1) >>> 0;
  let h = ~hi >>> 0;
  if (l === 0) {
    h = (h + 1) >>> 0;
  }
  return -(l + h * TWO_32);
}

function decode(spec: MessageSpec, bytes: Buffer): object {
  inp = bytes;
  at = 0;
  try {
    return readMessage(spec, bytes.length);
  } finally {
    inp = EMPTY_BYTES;
  }
}

/** Encodes a `SessionRequest` given as the generic codec takes it (enum names or numbers, numbers for 64-bit fields). */
export function encodeSessionRequest(value: object): Buffer {
  return encode(SESSION_REQUEST, value);
}

/** Decodes a `SessionRequest` into the object the generic codec gives (`SessionRequest__Output`). */
export function decodeSessionRequest(bytes: Buffer): object {
  return decode(SESSION_REQUEST, bytes);
}

/** Encodes a `SessionResponse` given as the generic codec takes it. */
export function encodeSessionResponse(value: object): Buffer {
  return encode(SESSION_RESPONSE, value);
}

/** Decodes a `SessionResponse` into the object the generic codec gives (`SessionResponse__Output`). */
export function decodeSessionResponse(bytes: Buffer): object {
  return decode(SESSION_RESPONSE, bytes);
}

/** Encodes a `BootstrapParams` given as the generic codec takes it. */
export function encodeBootstrapParams(value: object): Buffer {
  return encode(BOOTSTRAP_PARAMS, value);
}

/** Decodes a `BootstrapParams` into the object the generic codec gives. */
export function decodeBootstrapParams(bytes: Buffer): object {
  return decode(BOOTSTRAP_PARAMS, bytes);
}

/** Encodes a `HelloRequest` given as the generic codec takes it. */
export function encodeHelloRequest(value: object): Buffer {
  return encode(HELLO_REQUEST, value);
}

/** Decodes a `HelloRequest` into the object the generic codec gives (`HelloRequest__Output`). */
export function decodeHelloRequest(bytes: Buffer): object {
  return decode(HELLO_REQUEST, bytes);
}

/** Encodes a `HelloResponse` given as the generic codec takes it. */
export function encodeHelloResponse(value: object): Buffer {
  return encode(HELLO_RESPONSE, value);
}

/** Decodes a `HelloResponse` into the object the generic codec gives (`HelloResponse__Output`). */
export function decodeHelloResponse(bytes: Buffer): object {
  return decode(HELLO_RESPONSE, bytes);
}

/** The codecs above by fully qualified message type name, for `load.ts`. */
export const SESSION_CODECS: ReadonlyMap<string, { serialize: (value: object) => Buffer; deserialize: (bytes: Buffer) => object }> = new Map([
  ['eos.agent.v1.SessionRequest', { serialize: encodeSessionRequest, deserialize: decodeSessionRequest }],
  ['eos.agent.v1.SessionResponse', { serialize: encodeSessionResponse, deserialize: decodeSessionResponse }],
  ['eos.agent.v1.BootstrapParams', { serialize: encodeBootstrapParams, deserialize: decodeBootstrapParams }],
  ['eos.agent.v1.HelloRequest', { serialize: encodeHelloRequest, deserialize: decodeHelloRequest }],
  ['eos.agent.v1.HelloResponse', { serialize: encodeHelloResponse, deserialize: decodeHelloResponse }],
]);

/** One field of the tables above, as `sessionCodecSchema` lists it. */
export interface SessionCodecField {
  no: number;
  name: string;
  kind: Kind;
  repeated: boolean;
  oneof: boolean;
  /** Message type name, for kind 'message'. */
  type?: string;
}

/**
 * The field tables of every message the codec handles, by message name, and the enum names it
 * maps: for the test that checks them against the `agent.proto` descriptor, so a change to the
 * proto cannot leave the codec behind unnoticed.
 */
export function sessionCodecSchema(): { messages: Record<string, SessionCodecField[]>; priorityNames: readonly string[] } {
  const messages: Record<string, SessionCodecField[]> = {};
  const visit = (spec: MessageSpec): void => {
    if (messages[spec.name] !== undefined) {
      return;
    }
    messages[spec.name] = spec.fields.map((f) => ({
      no: f.no,
      name: f.name,
      kind: f.kind,
      repeated: f.repeated,
      oneof: f.oneof,
      ...(f.type === undefined ? {} : { type: f.type.name }),
    }));
    for (const f of spec.fields) {
      if (f.type !== undefined) {
        visit(f.type);
      }
    }
  };
  visit(SESSION_REQUEST);
  visit(SESSION_RESPONSE);
  visit(BOOTSTRAP_PARAMS);
  visit(HELLO_REQUEST);
  visit(HELLO_RESPONSE);
  return { messages, priorityNames: PRIORITY_NAMES };
}
