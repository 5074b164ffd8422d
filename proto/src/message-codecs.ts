import protobuf from 'protobufjs/light.js';
import { AGENT_DESCRIPTOR_JSON } from './gen/descriptors.js';
import { SESSION_CODECS } from './session-codec.js';

// The message codecs of the contracts without grpc-js: load.ts builds the grpc-js service
// definitions from them, and agent-host, which speaks gRPC on node:http2 itself, takes the codecs of
// its unary calls from here (loaded on its first such call, not at start).

// How decoded messages look to callers; must match the flags in scripts/gen-proto-types.mjs
// (--longs=Number --enums=String --defaults --oneofs; field names camelCase), or the generated types lie.
const TO_OBJECT_OPTIONS: protobuf.IConversionOptions = { longs: Number, enums: String, defaults: true, oneofs: true };

/**
 * A root built from a descriptor precompiled by `pnpm gen` (no `.proto` text is parsed at run
 * time, and protobufjs's parser is not loaded).
 */
export function rootFromJson(json: string): protobuf.Root {
  const root = protobuf.Root.fromJSON(JSON.parse(json) as protobuf.INamespace);
  root.resolveAll();
  return root;
}

/** The serializer grpc-js gets for a message type: the precompiled one of session-codec.ts when there is one. */
export function serializer(type: protobuf.Type): (value: object) => Buffer {
  const fast = SESSION_CODECS.get(type.fullName.replace(/^\./, ''));
  if (fast !== undefined) {
    return fast.serialize;
  }
  return genericSerializer(type);
}

/** The deserializer grpc-js gets for a message type: the precompiled one of session-codec.ts when there is one. */
export function deserializer(type: protobuf.Type): (bytes: Buffer) => object {
  return SESSION_CODECS.get(type.fullName.replace(/^\./, ''))?.deserialize ?? genericDeserializer(type);
}

/** protobufjs `fromObject` + `encode`: the codec of every message but the Session frames (see session-codec.ts). */
export function genericSerializer(type: protobuf.Type): (value: object) => Buffer {
  return (value) => {
    if (Array.isArray(value)) {
      throw new TypeError(`cannot serialize an array as ${type.fullName}`);
    }
    const bytes = type.encode(type.fromObject(value)).finish();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

/** protobufjs `decode` + `toObject` with the options the generated types assume. */
export function genericDeserializer(type: protobuf.Type): (bytes: Buffer) => object {
  return (bytes) => type.toObject(type.decode(bytes), TO_OBJECT_OPTIONS);
}

let agentRootCache: protobuf.Root | undefined;

/** The protobufjs root of `eos.agent.v1` (built once, then cached). */
export function agentRoot(): protobuf.Root {
  agentRootCache ??= rootFromJson(AGENT_DESCRIPTOR_JSON);
  return agentRootCache;
}

/** A protobufjs type of `eos.agent.v1` by name (e.g. `SessionRequest`), for tests that compare codecs. */
export function agentMessageType(name: string): protobuf.Type {
  return agentRoot().lookupType(`eos.agent.v1.${name}`);
}

/** What a client needs to call one unary method of `eos.agent.v1.AgentService`. */
export interface UnaryMethodCodec {
  /** The HTTP/2 `:path`, e.g. `/eos.agent.v1.AgentService/GetState`. */
  path: string;
  serialize: (value: object) => Buffer;
  deserialize: (bytes: Buffer) => object;
}

const unaryCodecs = new Map<string, UnaryMethodCodec>();

/**
 * The path and codecs of a unary method of the agent service by its proto name (`GetState`), the
 * same as the service definition in load.ts gives grpc-js.
 * @throws Error when the service has no such unary method (a programming error, not a peer's).
 */
export function agentUnaryMethod(name: string): UnaryMethodCodec {
  let codec = unaryCodecs.get(name);
  if (codec === undefined) {
    const method = agentRoot().lookupService('eos.agent.v1.AgentService').methods[name];
    if (method === undefined || method.requestStream === true || method.responseStream === true) {
      throw new Error(`eos.agent.v1.AgentService has no unary method ${name}`);
    }
    method.resolve();
    codec = {
      path: `/eos.agent.v1.AgentService/${name}`,
      serialize: serializer(method.resolvedRequestType as protobuf.Type),
      deserialize: deserializer(method.resolvedResponseType as protobuf.Type),
    };
    unaryCodecs.set(name, codec);
  }
  return codec;
}
