/**
 * @module @everythingos/proto/core
 *
 * The part of the contracts that needs no gRPC and no protobuf runtime: the `EOS_*` error codes,
 * the manifest schema and the protocol version. The SDK imports this entry, so an agent's own
 * `import { Agent } from '@everythingos/sdk'` does not load grpc-js or protobufjs (agent-host
 * brings its own, bundled).
 */
export { ERROR_CODES, EosError, isEosError, isErrorCode } from './errors.js';
export type { ErrorCode, EosErrorOptions } from './errors.js';
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
export { PROTOCOL_VERSION } from './version.js';
