/**
 * @module @everythingos/proto/core
 *
 * The part of the contracts that loads no gRPC, protobuf or zod code: the `EOS_*` error codes,
 * the protocol version and the manifest types (the schema itself is `@everythingos/proto/manifest`).
 * The SDK's main entry imports only this, so an agent's own `import { Agent } from '@everythingos/sdk'`
 * stays small (agent-host brings its gRPC and protobuf code bundled; zod alone costs more to load
 * than the rest of an agent's start).
 */
export { ERROR_CODES, EosError, isEosError, isErrorCode } from './errors.js';
export type { ErrorCode, EosErrorOptions } from './errors.js';
export type { AgentManifest, AgentManifestInput, RiskTier, Capability, GenAIRiskFlag, GenAIRisks } from './manifest.js';
export { PROTOCOL_VERSION } from './version.js';
