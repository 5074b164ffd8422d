/**
 * @module @everythingos/sdk
 *
 * What agent authors depend on: the {@link Agent} base class, the manifest types and the
 * `EOS_*` error helpers. The manifest schema (zod) is `@everythingos/sdk/manifest`, kept out of this
 * entry because every agent loads it at start.
 *
 * ```ts
 * import { Agent } from '@everythingos/sdk';
 * export default class Hello extends Agent {
 *   protected override async onStart() { this.log('info', 'hello'); }
 * }
 * ```
 */
export { Agent } from './agent.js';
export { ATTACH_RUNTIME } from './runtime.js';
export type {
  AgentEvent,
  AgentLifecycle,
  AgentRuntime,
  CredentialGrant,
  ActOptions,
  ActResult,
  EmitOptions,
  EventHandler,
  FetchInit,
  FetchResult,
  HealthStatus,
  LogLevel,
  Priority,
  RecalledMemory,
  SanitizeResult,
  ThinkOptions,
} from './runtime.js';
export { EosError, isEosError } from '@everythingos/proto/core';
export type { AgentManifest, AgentManifestInput, ErrorCode, RiskTier, Capability } from '@everythingos/proto/core';
