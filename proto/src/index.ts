/**
 * @module @everythingos/proto
 *
 * The wire contracts of EverythingOS: the `.proto` loaders, generated types, the protocol
 * version, the `EOS_*` error codes and their gRPC mapping, the bootstrap frame and the per-call
 * MAC. Every process boundary in eosd speaks these.
 *
 * ```ts
 * import { loadAgentProto, EosError, isEosError } from '@everythingos/proto';
 * const { eos } = loadAgentProto();
 * ```
 */
export { ERROR_CODES, EosError, isEosError, isErrorCode } from './errors.js';
export type { ErrorCode, EosErrorOptions } from './errors.js';
export { ERROR_CODE_METADATA_KEY, toServiceError, fromServiceError } from './grpc-errors.js';
export type { ServerErrorObject } from './grpc-errors.js';
export {
  PROTO_ROOT,
  AGENT_PROTO_FILE,
  CONTROL_PROTO_FILE,
  HELPER_PROTO_FILE,
  agentPackageDefinition,
  controlPackageDefinition,
  loadAgentProto,
  loadControlProto,
  loadAllProtos,
} from './load.js';
export type { PackageDefinition } from './load.js';
export { encodeBootstrap, decodeBootstrap, MAX_BOOTSTRAP_BYTES } from './bootstrap.js';
export type { Bootstrap } from './bootstrap.js';
export { computeCallMac } from './call-auth.js';
export { MAX_SESSION_FRAME_ENTRIES, sessionEntryCount } from './session-codec.js';
export { PROTOCOL_VERSION } from './version.js';
export type * as agentV1 from './gen/eos/agent/v1/index.js';
export type * as controlV1 from './gen/eos/control/v1/index.js';
export type * as helperV1 from './gen/eos/helper/v1/index.js';
export {
  HELPER_PROTOCOL_VERSION,
  MAX_HELPER_FRAME_BYTES,
  encodeHelperFrame,
  encodeSupervisorFrame,
  FrameDecoder,
} from './helper-frame.js';
export {
  AgentManifestSchema,
  parseManifest,
  CHANNEL_NAME,
  AGENT_ID,
  MODEL_REF,
  RISK_TIERS,
  CAPABILITIES,
  GENAI_RISK_FLAGS,
} from './manifest.js';
export type { AgentManifest, AgentManifestInput, RiskTier, Capability, GenAIRiskFlag, GenAIRisks } from './manifest.js';
