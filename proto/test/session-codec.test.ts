import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { agentMessageType, agentPackageDefinition, genericDeserializer, genericSerializer } from '../src/load.js';
import protobuf from 'protobufjs';
import {
  decodeBootstrapParams,
  decodeHelloRequest,
  decodeHelloResponse,
  decodeSessionRequest,
  decodeSessionResponse,
  encodeBootstrapParams,
  encodeHelloRequest,
  encodeHelloResponse,
  encodeSessionRequest,
  encodeSessionResponse,
  MAX_SESSION_FRAME_ENTRIES,
  sessionCodecSchema,
  sessionEntryCount,
  type SessionCodecField,
} from '../src/session-codec.js';

const reqType = agentMessageType('SessionRequest');
const resType = agentMessageType('SessionResponse');
const generic = {
  encodeRequest: genericSerializer(reqType),
  decodeRequest: genericDeserializer(reqType),
  encodeResponse: genericSerializer(resType),
  decodeResponse: genericDeserializer(resType),
};

const MAX_U64_SAFE = Number.MAX_SAFE_INTEGER;
const mac = Buffer.alloc(32, 0xab);
const fullAuth = { nonce: MAX_U64_SAFE, timestampMs: 1_764_000_000_000, mac };
const bigBody = randomBytes(70_000);

/** Every SessionRequest variant, with empty, default and maximal fields. */
const REQUESTS: Record<string, object> = {
  'empty frame': {},
  'emits: empty batch': { emits: {} },
  'emits: empty list': { emits: { emits: [] } },
  'emits: one empty emit': { emits: { emits: [{}] } },
  'emits: defaults given explicitly': { emits: { emits: [{ auth: { nonce: 0, timestampMs: 0, mac: Buffer.alloc(0) }, channel: '', priority: 0, body: Buffer.alloc(0) }] } },
  'emits: typical': {
    emits: { emits: [{ auth: { nonce: 1, timestampMs: Date.now(), mac }, channel: 'bench.data', priority: 'PRIORITY_NORMAL', body: Buffer.from('{"i":1}') }] },
  },
  'emits: 256, every priority name and number': {
    emits: {
      emits: Array.from({ length: 256 }, (_, i) => ({
        auth: { nonce: 1_000 + i, timestampMs: 1_764_000_000_000 + i, mac: randomBytes(32) },
        channel: `chan.${i}`,
        priority: i % 2 === 0 ? ['PRIORITY_UNSPECIFIED', 'PRIORITY_LOW', 'PRIORITY_NORMAL', 'PRIORITY_HIGH', 'PRIORITY_CRITICAL'][i % 5] : i % 5,
        body: Buffer.from(JSON.stringify({ i, s: 'x'.repeat(i) })),
      })),
    },
  },
  'emits: max values': {
    emits: { emits: [{ auth: fullAuth, channel: 'c'.repeat(300), priority: 'PRIORITY_CRITICAL', body: bigBody }] },
  },
  'emits: 64-bit edge values': {
    emits: {
      emits: [2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 35, 2 ** 49, 2 ** 53 - 1, 2 ** 56, 2 ** 63, 2 ** 64, 1.5, -1, -(2 ** 40), -(2 ** 63), Number.NaN, Infinity].map((n) => ({
        auth: { nonce: n, timestampMs: n },
      })),
    },
  },
  'emits: 64-bit as strings and Long-like objects': {
    emits: { emits: [{ auth: { nonce: '18446744073709551615', timestampMs: '-5' } }, { auth: { nonce: { low: -1, high: 0x7fffffff }, timestampMs: { low: 5, high: -1 } } }] },
  },
  'emits: Uint8Array, base64 string and number-array bytes': {
    emits: { emits: [{ body: new Uint8Array([1, 2, 3]) }, { body: Buffer.from('hello').toString('base64') }, { body: [7, 8, 9] }, { auth: { mac: new Uint8Array(mac) } }] },
  },
  'emits: unknown and out-of-range enums': { emits: { emits: [{ priority: 'PRIORITY_BOGUS' }, { priority: 17 }, { priority: -3 }, { priority: 2 ** 31 + 5 }] } },
  'emits: unicode strings': { emits: { emits: [{ channel: 'ü.ß.中文.😀' }, { channel: 'a'.repeat(39) + '€' }, { channel: '€'.repeat(100) }] } },
  'emits: non-string channel': { emits: { emits: [{ channel: 42 }] } },
  'subscribe: empty': { subscribe: {} },
  'subscribe: typical': { subscribe: { auth: fullAuth, channel: 'demo.*' } },
  'log: empty': { log: {} },
  'log: typical': { log: { auth: fullAuth, level: 'warn', body: Buffer.from('{"msg":"m","fields":{}}') } },
  'heartbeat: empty': { heartbeat: {} },
  'heartbeat: typical': { heartbeat: { auth: fullAuth, body: Buffer.from('{"ok":true}') } },
  'ready: empty': { ready: {} },
  'ready: with auth': { ready: { auth: fullAuth } },
  'ready: empty auth': { ready: { auth: {} } },
  'acts: empty': { acts: {} },
  'acts: typical': { acts: { acts: [{ auth: fullAuth, channel: 'x.act', priority: 'PRIORITY_HIGH', body: Buffer.from('{"payload":1}') }, {}] } },
  'acts: large': { acts: { acts: Array.from({ length: 300 }, (_, i) => ({ auth: { nonce: i + 1, timestampMs: i, mac }, channel: 'x', body: bigBody.subarray(0, i * 7) })) } },
  'null fields': { emits: { emits: [{ auth: null, channel: null, priority: null, body: null }] } },
  'two oneof members': { emits: { emits: [{}] }, ready: { auth: fullAuth } },
};

/** Every SessionResponse variant. */
const RESPONSES: Record<string, object> = {
  'empty frame': {},
  'events: empty batch': { events: {} },
  'events: one empty event': { events: { events: [{}] } },
  'events: typical': {
    events: { events: [{ id: 'evt-1', channel: 'bench.data', source: 'bench-sender', priority: 'PRIORITY_NORMAL', timestampMs: Date.now(), body: Buffer.from('{"i":1}') }] },
  },
  'events: many, max values': {
    events: {
      events: Array.from({ length: 300 }, (_, i) => ({
        id: `evt-${i}-${'z'.repeat(i % 70)}`,
        channel: 'c.'.repeat(i % 50),
        source: 'agent-ü',
        priority: i % 5,
        timestampMs: i % 3 === 0 ? MAX_U64_SAFE : -i,
        body: bigBody.subarray(0, i % 3 === 0 ? 0 : i * 13),
      })),
    },
  },
  'acks: empty': { acks: {} },
  'acks: zero through': { acks: { throughNonce: 0, rejected: [] } },
  'acks: rejections': {
    acks: { throughNonce: MAX_U64_SAFE, rejected: [{ nonce: 5, error: { code: 'EOS_PERMISSION_DENIED', message: 'no' } }, { nonce: 6 }, {}, { error: {} }] },
  },
  'subscribed: empty': { subscribed: {} },
  'subscribed: ok': { subscribed: { nonce: 3, error: undefined } },
  'subscribed: error': { subscribed: { nonce: 3, error: { code: 'EOS_PERMISSION_DENIED', message: 'x'.repeat(2000) } } },
  'shutdown: empty': { shutdown: {} },
  'shutdown: typical': { shutdown: { graceMs: 5000, reason: 'operator stop' } },
  'shutdown: max and odd uint32': { shutdown: { graceMs: 2 ** 32 - 1 } },
  'shutdown: uint32 wraps': { shutdown: { graceMs: 2 ** 32 + 7 } },
  'actResults: empty': { actResults: {} },
  'actResults: mixed': {
    actResults: {
      results: [
        { nonce: 1, eventId: 'e1', ledgerSeq: 1 },
        { nonce: 2, error: { code: 'EOS_RATE_LIMITED', message: 'slow down' } },
        { nonce: MAX_U64_SAFE, eventId: '', ledgerSeq: MAX_U64_SAFE },
        {},
      ],
    },
  },
};

/** The messages of an agent's start, with empty, typical and maximal fields. */
const START_MESSAGES: Record<string, [string, (v: object) => Buffer, (b: Buffer) => object, object]> = {
  'BootstrapParams empty': ['BootstrapParams', encodeBootstrapParams, decodeBootstrapParams, {}],
  'BootstrapParams typical': [
    'BootstrapParams',
    encodeBootstrapParams,
    decodeBootstrapParams,
    { protocolVersion: 2, agentId: 'a-1', socketPath: '/run/eosd/agent.sock', sessionKey: randomBytes(32), packageDir: '/agent/pkg' },
  ],
  'BootstrapParams max and wrapping uint32': ['BootstrapParams', encodeBootstrapParams, decodeBootstrapParams, { protocolVersion: 2 ** 32 + 3, agentId: 'é'.repeat(500) }],
  'HelloRequest empty': ['HelloRequest', encodeHelloRequest, decodeHelloRequest, {}],
  'HelloRequest typical': ['HelloRequest', encodeHelloRequest, decodeHelloRequest, { auth: fullAuth, protocolVersion: 2, pid: 4_194_304 }],
  'HelloResponse empty': ['HelloResponse', encodeHelloResponse, decodeHelloResponse, {}],
  'HelloResponse typical': [
    'HelloResponse',
    encodeHelloResponse,
    decodeHelloResponse,
    { agentId: 'a-1', manifestJson: Buffer.from(JSON.stringify({ name: 'x', subscribe: ['a'] })), entryPath: '/agent/pkg/index.js', tickRateMs: 1000, heartbeatIntervalMs: 5000, protocolVersion: 2 },
  ],
  'HelloResponse large manifest, max uint32': ['HelloResponse', encodeHelloResponse, decodeHelloResponse, { manifestJson: bigBody, tickRateMs: 2 ** 32 - 1 }],
};

function check(value: object, enc: (v: object) => Buffer, dec: (b: Buffer) => object, genEnc: (v: object) => Buffer, genDec: (b: Buffer) => object): void {
  const expectedBytes = genEnc(value);
  const bytes = enc(value);
  expect(bytes.equals(expectedBytes)).toBe(true);
  expect(dec(expectedBytes)).toStrictEqual(genDec(expectedBytes));
}

/** The codec's view of a field, derived from the protobufjs reflection of agent.proto. */
function fieldFromDescriptor(f: protobuf.Field): SessionCodecField {
  f.resolve();
  const scalar: Record<string, SessionCodecField['kind']> = { string: 'string', bytes: 'bytes', uint64: 'uint64', int64: 'int64', uint32: 'uint32' };
  const kind = f.resolvedType instanceof protobuf.Type ? 'message' : f.resolvedType instanceof protobuf.Enum ? 'enum' : scalar[f.type];
  if (kind === undefined) {
    throw new Error(`field ${f.fullName} has type ${f.type}, which the session codec does not handle`);
  }
  return {
    no: f.id,
    name: f.name,
    kind,
    repeated: f.repeated,
    oneof: f.partOf !== null && f.partOf !== undefined,
    ...(kind === 'message' ? { type: (f.resolvedType as protobuf.Type).name } : {}),
  };
}

describe('session codec', () => {
  it('has the field tables of agent.proto: every message reachable from SessionRequest, SessionResponse and the three start messages, and the Priority enum', () => {
    const expected: Record<string, SessionCodecField[]> = {};
    let priority: protobuf.Enum | undefined;
    const visit = (type: protobuf.Type): void => {
      if (expected[type.name] !== undefined) {
        return;
      }
      expected[type.name] = type.fieldsArray.map(fieldFromDescriptor);
      for (const f of type.fieldsArray) {
        if (f.resolvedType instanceof protobuf.Type) {
          visit(f.resolvedType);
        } else if (f.resolvedType instanceof protobuf.Enum) {
          expect(f.resolvedType.name).toBe('Priority');
          priority = f.resolvedType;
        }
      }
    };
    visit(reqType);
    visit(resType);
    visit(agentMessageType('BootstrapParams'));
    visit(agentMessageType('HelloRequest'));
    visit(agentMessageType('HelloResponse'));
    const schema = sessionCodecSchema();
    expect(schema.messages).toEqual(expected);
    expect(Object.keys(expected).length).toBeGreaterThan(15);
    const names = Object.entries(priority?.values ?? {}).sort((a, b) => a[1] - b[1]);
    expect(names.map(([, v]) => v)).toEqual(names.map((_, i) => i));
    expect(schema.priorityNames).toEqual(names.map(([k]) => k));
  });

  it.each(Object.entries(REQUESTS))('SessionRequest %s: same bytes and decoded object as the generic codec', (_name, value) => {
    check(value, encodeSessionRequest, decodeSessionRequest, generic.encodeRequest, generic.decodeRequest);
  });

  it.each(Object.entries(RESPONSES))('SessionResponse %s: same bytes and decoded object as the generic codec', (_name, value) => {
    check(value, encodeSessionResponse, decodeSessionResponse, generic.encodeResponse, generic.decodeResponse);
  });

  it.each(Object.entries(START_MESSAGES))('%s: same bytes and decoded object as the generic codec', (_name, [type, enc, dec, value]) => {
    const t = agentMessageType(type);
    check(value, enc, dec, genericSerializer(t), genericDeserializer(t));
  });

  it('is what the Hello method of the agent service uses, both directions', () => {
    const hello = agentPackageDefinition()['eos.agent.v1.AgentService']?.Hello;
    expect(hello?.requestSerialize).toBe(encodeHelloRequest);
    expect(hello?.responseDeserialize).toBe(decodeHelloResponse);
  });

  it('is what the Session method of the agent service uses, both directions', () => {
    const session = agentPackageDefinition()['eos.agent.v1.AgentService']?.Session;
    expect(session?.requestSerialize).toBe(encodeSessionRequest);
    expect(session?.requestDeserialize).toBe(decodeSessionRequest);
    expect(session?.responseSerialize).toBe(encodeSessionResponse);
    expect(session?.responseDeserialize).toBe(decodeSessionResponse);
  });

  it('decodes random frames made by the generic codec identically', () => {
    const rand = (n: number): number => Math.floor(Math.random() * n);
    const str = (): string => ['', 'a', 'bench.data', 'ü€😀', 'x'.repeat(rand(200))][rand(5)] as string;
    const u64 = (): number => [0, 1, 127, 128, 2 ** 32, MAX_U64_SAFE, rand(2 ** 40)][rand(7)] as number;
    for (let round = 0; round < 300; round++) {
      const auth = rand(3) === 0 ? undefined : { nonce: u64(), timestampMs: rand(2) === 0 ? u64() : -u64(), mac: randomBytes(rand(3) * 16) };
      const req = [
        { emits: { emits: Array.from({ length: rand(5) }, () => ({ auth, channel: str(), priority: rand(6), body: randomBytes(rand(100)) })) } },
        { subscribe: { auth, channel: str() } },
        { log: { auth, level: str(), body: randomBytes(rand(50)) } },
        { heartbeat: { auth, body: randomBytes(rand(50)) } },
        { ready: { auth } },
        { acts: { acts: Array.from({ length: rand(5) }, () => ({ auth, channel: str(), priority: rand(6), body: randomBytes(rand(100)) })) } },
      ][rand(6)] as object;
      check(req, encodeSessionRequest, decodeSessionRequest, generic.encodeRequest, generic.decodeRequest);
      const error = rand(2) === 0 ? undefined : { code: str(), message: str() };
      const res = [
        { events: { events: Array.from({ length: rand(5) }, () => ({ id: str(), channel: str(), source: str(), priority: rand(6), timestampMs: u64(), body: randomBytes(rand(100)) })) } },
        { acks: { throughNonce: u64(), rejected: Array.from({ length: rand(3) }, () => ({ nonce: u64(), error })) } },
        { subscribed: { nonce: u64(), error } },
        { shutdown: { graceMs: rand(2 ** 32), reason: str() } },
        { actResults: { results: Array.from({ length: rand(4) }, () => ({ nonce: u64(), eventId: str(), ledgerSeq: u64(), error })) } },
      ][rand(5)] as object;
      check(res, encodeSessionResponse, decodeSessionResponse, generic.encodeResponse, generic.decodeResponse);
    }
  });

  it('skips unknown fields of every wire type like the generic codec', () => {
    const known = encodeSessionResponse({ shutdown: { graceMs: 9, reason: 'r' } });
    // field 15 varint, field 14 fixed64, field 13 length-delimited, field 12 fixed32, field 11 group
    const unknown = Buffer.from([15 << 3, 0xff, 0x01, (14 << 3) | 1, 1, 2, 3, 4, 5, 6, 7, 8, (13 << 3) | 2, 2, 9, 9, (12 << 3) | 5, 1, 2, 3, 4, (11 << 3) | 3, 8, 1, (11 << 3) | 4]);
    const bytes = Buffer.concat([unknown, known, unknown]);
    expect(decodeSessionResponse(bytes)).toStrictEqual(generic.decodeResponse(bytes));
  });

  it('rejects truncated and malformed frames with an error, never a hang or a partial object', () => {
    const full = encodeSessionRequest({ emits: { emits: [{ auth: fullAuth, channel: 'bench.data', priority: 2, body: Buffer.from('{"i":1}') }] } });
    for (let n = 1; n < full.length; n++) {
      expect(() => decodeSessionRequest(full.subarray(0, n))).toThrow();
    }
    expect(() => decodeSessionRequest(Buffer.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80]))).toThrow(/varint|range/);
    expect(() => decodeSessionRequest(Buffer.from([(1 << 3) | 0, 1]))).toThrow(/wire type/);
    expect(() => decodeSessionRequest(Buffer.from([(9 << 3) | 7]))).toThrow(/wire type/);
  });

  it.each([
    ['SessionRequest', REQUESTS, encodeSessionRequest, decodeSessionRequest, generic.decodeRequest],
    ['SessionResponse', RESPONSES, encodeSessionResponse, decodeSessionResponse, generic.decodeResponse],
  ] as const)('decodes mutated %s frames as the generic codec does or refuses them; never accepts what it rejects', (_name, variants, enc, dec, genDec) => {
    // The supervisor decodes whatever an agent writes. Flip, insert and drop bytes of valid frames:
    // where protobufjs refuses a frame, so must this codec; where this codec decodes one, the
    // result must be protobufjs's. It may refuse more (see the codec's header).
    const rand = (n: number): number => Math.floor(Math.random() * n);
    const seeds = Object.values(variants)
      .map((v) => enc(v))
      .filter((b) => b.length > 0 && b.length < 4096);
    let decodedByBoth = 0;
    for (let round = 0; round < 20000; round++) {
      const mutated = [...(seeds[rand(seeds.length)] as Buffer)];
      for (let k = 1 + rand(3); k > 0; k--) {
        const at = rand(mutated.length + 1);
        const op = rand(3);
        if (op === 0 && at < mutated.length) {
          mutated[at] = rand(256);
        } else if (op === 1) {
          mutated.splice(at, 0, rand(256));
        } else {
          mutated.splice(at, 1);
        }
      }
      const input = Buffer.from(mutated);
      let expected: object | Error;
      try {
        expected = genDec(input);
      } catch (err) {
        expected = err as Error;
      }
      let actual: object | Error;
      try {
        actual = dec(input);
      } catch (err) {
        expect(err).toBeInstanceOf(Error);
        actual = err as Error;
      }
      if (expected instanceof Error) {
        expect(actual, `protobufjs refused ${input.toString('hex')}`).toBeInstanceOf(Error);
      } else if (!(actual instanceof Error)) {
        expect(actual, input.toString('hex')).toStrictEqual(expected);
        decodedByBoth++;
      }
    }
    // The property is vacuous unless many mutants still decode.
    expect(decodedByBoth).toBeGreaterThan(2000);
  });

  it('refuses over-long keys, over-long 32-bit varints and lengths past 32 bits (found by the mutation test)', () => {
    const mac = 'ab'.repeat(32);
    // CallAuth with a six-byte key (protobufjs reads it as a ten-byte one and refuses the frame).
    const longKey = Buffer.from(`0a460a440a2b0810f098daa9a1341f1a20${mac}120a62656e63682e64617461180222077b2269223a317d`, 'hex');
    expect(() => generic.decodeRequest(longKey)).toThrow();
    expect(() => decodeSessionRequest(longKey)).toThrow(/field key/);
    // An Event whose priority is an eight-byte varint.
    const longEnum = Buffer.from('0a190a170a0265311201631a0173208ad880d0dfb4ab3332027b7d', 'hex');
    expect(() => generic.decodeResponse(longEnum)).toThrow();
    expect(() => decodeSessionResponse(longEnum)).toThrow(/over-long/);
    // The emits field with length 2^32 (protobufjs keeps the low 32 bits: an empty batch).
    const longLength = Buffer.from('0a8080808010', 'hex');
    expect(() => decodeSessionRequest(longLength)).toThrow(/range/);
  });

  it.each([
    ['emits', 1],
    ['acts', 6],
  ] as const)('%s: builds at most 1,025 entries of an oversized frame and counts the rest (an 8 MB frame of 4M empty entries)', (kind, fieldNo) => {
    const frame = (entries: number): Buffer => {
      const batch = Buffer.alloc(entries * 2);
      for (let i = 0; i < entries; i++) {
        batch[2 * i] = 0x0a; // entry field 1, length-delimited, length 0
      }
      const len: number[] = [];
      for (let n = batch.length; ; n >>>= 7) {
        if (n < 0x80) {
          len.push(n);
          break;
        }
        len.push((n & 0x7f) | 0x80);
      }
      return Buffer.concat([Buffer.from([(fieldNo << 3) | 2, ...len]), batch]);
    };
    const entriesOf = (decoded: object): unknown[] => (decoded as Record<string, Record<string, unknown[]>>)[kind]?.[kind] as unknown[];
    const atCap = entriesOf(decodeSessionRequest(frame(MAX_SESSION_FRAME_ENTRIES)));
    expect(atCap).toHaveLength(MAX_SESSION_FRAME_ENTRIES);
    expect(sessionEntryCount(atCap)).toBe(MAX_SESSION_FRAME_ENTRIES);
    const bytes = frame(4_000_000);
    const heapBefore = process.memoryUsage().heapUsed;
    const big = entriesOf(decodeSessionRequest(bytes));
    const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
    expect(big).toHaveLength(MAX_SESSION_FRAME_ENTRIES + 1);
    expect(sessionEntryCount(big)).toBe(4_000_000);
    // Building 4M entries took about 1 GB of heap; the 1,025 built ones take well under 1 MB.
    expect(heapGrowth).toBeLessThan(32 * 1024 * 1024);
    expect(sessionEntryCount([1, 2, 3])).toBe(3);
  });

  it('rejects what the generic codec rejects: arrays and non-object messages', () => {
    expect(() => encodeSessionRequest([])).toThrow(TypeError);
    expect(() => encodeSessionRequest({ emits: { emits: 'x' } })).toThrow(TypeError);
    expect(() => generic.encodeRequest({ emits: { emits: 'x' } })).toThrow(TypeError);
    expect(() => encodeSessionRequest({ emits: { emits: [5] } })).toThrow(TypeError);
    expect(() => encodeSessionResponse({ shutdown: 'now' })).toThrow(TypeError);
    expect(() => generic.encodeResponse({ shutdown: 'now' })).toThrow(TypeError);
  });
});
