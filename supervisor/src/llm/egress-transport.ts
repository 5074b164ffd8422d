import { EosError, isEosError } from '@everythingos/proto';
import type { EgressGuard } from '../security/egress/index.js';
import type { Vault } from '../security/vault/index.js';
import type { LlmProviderConfig } from './llm-config.js';
import type { LlmTransport } from './llm-gateway.js';

/** The egress identity of the LLM gateway: its own allowlist, its own short-lived key grants. */
export const LLM_EGRESS_AGENT = 'eosd-llm';
/** Lifetime of a provider-key grant, ms: one call's worth. */
const KEY_GRANT_TTL_MS = 120_000;

/**
 * Provider calls through the egress guard (dial-time SSRF checks, caps, secret scanning) with
 * the API key injected from the vault by a grant to the gateway's own egress identity: the key
 * never passes through the gateway's own code, nor any agent.
 */
export function createEgressTransport(guard: EgressGuard, vault: Vault | undefined, providers: readonly LlmProviderConfig[]): LlmTransport {
  guard.setAgentPolicy(LLM_EGRESS_AGENT, {
    allowedHosts: [...new Set(providers.map((p) => new URL(p.baseUrl).host))],
  });
  return async (provider, req) => {
    let credentialId: string | undefined;
    if (provider.apiKeySecret !== undefined) {
      if (vault === undefined) {
        throw new EosError('EOS_CONFIG_INVALID', `provider ${provider.name} needs the vault for its key`);
      }
      credentialId = await vault.grant(LLM_EGRESS_AGENT, provider.apiKeySecret, {
        host: new URL(req.url).hostname.replace(/^\[|\]$/g, ''),
        ttlMs: KEY_GRANT_TTL_MS,
        header: req.credentialHeader.name,
        valuePrefix: req.credentialHeader.prefix,
      });
    }
    try {
      const res = await guard.fetch(LLM_EGRESS_AGENT, {
        url: req.url,
        method: 'POST',
        headers: req.headers,
        body: req.body,
        ...(credentialId === undefined ? {} : { credentialId }),
      });
      return { status: res.status, body: res.body };
    } catch (err) {
      if (isEosError(err)) {
        throw new EosError('EOS_LLM_PROVIDER_FAILED', `provider ${provider.name} unreachable: ${err.message}`, { cause: err, details: { egressCode: err.code } });
      }
      throw err;
    } finally {
      if (credentialId !== undefined) {
        await vault?.revoke(credentialId);
      }
    }
  };
}
