/**
 * @module @everythingos/proto/agent-wire
 *
 * What agent-host needs to speak the agent protocol, and nothing that loads grpc-js: the bootstrap
 * frame, the per-call MAC, the precompiled codecs of the start (Hello) and of the Session stream,
 * the gRPC status to `EosError` mapping, and the codecs of the unary calls, whose protobufjs
 * reflection is loaded on the first such call. agent-host's gRPC client is its own, on
 * `node:http2` (agent-host/src/agent-client.ts); the supervisor serves with grpc-js.
 */
import type { UnaryMethodCodec } from './message-codecs.js';

export { decodeBootstrap, MAX_BOOTSTRAP_BYTES } from './bootstrap.js';
export type { Bootstrap } from './bootstrap.js';
export { computeCallMac } from './call-auth.js';
export { decodeHelloResponse, decodeSessionResponse, encodeHelloRequest, encodeSessionRequest } from './session-codec.js';
export { ERROR_CODE_METADATA_KEY, GRPC_STATUS, errorFromStatus } from './grpc-status.js';
export { PROTOCOL_VERSION } from './version.js';
export type { UnaryMethodCodec } from './message-codecs.js';

/**
 * The path and codecs of a unary method of `eos.agent.v1.AgentService` by proto name
 * (`GetState`). The first call loads protobufjs and builds the agent descriptor's reflection
 * (a few ms), which an agent's start does not need.
 */
export async function loadAgentUnaryMethod(name: string): Promise<UnaryMethodCodec> {
  const codecs = await import('./message-codecs.js');
  return codecs.agentUnaryMethod(name);
}
