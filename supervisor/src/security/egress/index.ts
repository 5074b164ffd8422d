/**
 * @module security/egress
 *
 * The egress guard behind the agent `Fetch` RPC: SSRF checks at dial time on undici (every
 * resolved address, pinned), per-hop redirect re-validation, size and time caps, per-agent and
 * operator host allowlists, vault credential injection and secret redaction.
 *
 * ```ts
 * const guard = createEgressFetch(config.egress, { audit, logger, credentials: vault });
 * guard.setAgentPolicy('triage', { allowedHosts: manifest.egress.allowedHosts });
 * const res = await guard.fetch('triage', { url: 'https://api.github.com/user', credentialId });
 * ```
 */
export { EgressGuard, EgressRequest, createEgressFetch } from './egress-guard.js';
export type {
  EgressRequestInput,
  EgressResponse,
  EgressAuditEvent,
  EgressAuditSink,
  EgressGuardDeps,
  CredentialSource,
} from './egress-guard.js';
export { EgressConfig, AgentEgressPolicy, parseEgressConfig } from './egress-config.js';
export type { EgressConfigInput, AgentEgressPolicyInput } from './egress-config.js';
export { systemResolver, resolveDialTargets } from './guarded-connector.js';
export type { HostResolver, ResolvedAddress } from './guarded-connector.js';
export { classifyAddress, classifyHostname, normalizeHostname } from './address-policy.js';
export type { AddressVerdict, BlockedClass } from './address-policy.js';
export { HostAllowlist } from './host-allowlist.js';
