import { EosError } from '@everythingos/proto';
import { z } from 'zod';

/** Supervisor-wide egress settings (the `egress` section of eosd.yaml). */
export const EgressConfig = z.strictObject({
  /**
   * Deliberate internal endpoints (`host` = default port only, or `host:port`), e.g. a local model
   * server `127.0.0.1:11434`. They waive only the private/loopback address block: the agent must
   * still list the host, and metadata addresses stay blocked.
   */
  operatorAllowlist: z.array(z.string().min(1)).default([]),
  /** Response body cap after decoding, bytes (10 MiB). */
  maxResponseBytes: z.number().int().positive().default(10 * 1024 * 1024),
  /** Request body cap, bytes (10 MiB). */
  maxRequestBytes: z.number().int().positive().default(10 * 1024 * 1024),
  /** Total time per fetch, DNS + connect + all redirects + body, ms (30 s). */
  timeoutMs: z.number().int().positive().default(30_000),
  /** Per-dial cap for DNS resolution and TCP/TLS connect, ms (10 s). */
  connectTimeoutMs: z.number().int().positive().default(10_000),
  /** Redirect hops followed, each re-validated (5). */
  maxRedirects: z.number().int().nonnegative().max(20).default(5),
  /** Idle keep-alive of pooled connections, ms (4 s, below common 5 s server timeouts). */
  keepAliveTimeoutMs: z.number().int().positive().default(4_000),
});
/** What the operator writes. */
export type EgressConfigInput = z.input<typeof EgressConfig>;
/** Validated egress settings. */
export type EgressConfig = z.output<typeof EgressConfig>;

/** An agent's egress policy, from its manifest. */
export const AgentEgressPolicy = z.strictObject({
  /** Hosts the agent may fetch: `host` (default port only) or `host:port`. Empty = no egress. */
  allowedHosts: z.array(z.string().min(1)).default([]),
});
/** What the manifest holds. */
export type AgentEgressPolicyInput = z.input<typeof AgentEgressPolicy>;
/** Validated agent policy. */
export type AgentEgressPolicy = z.output<typeof AgentEgressPolicy>;

/**
 * Validate and freeze egress settings.
 *
 * @throws EosError `EOS_CONFIG_INVALID` listing every issue.
 */
export function parseEgressConfig(raw: unknown, source: string): EgressConfig {
  const r = EgressConfig.safeParse(raw);
  if (!r.success) {
    const why = z.prettifyError(r.error);
    throw new EosError('EOS_CONFIG_INVALID', `invalid egress config (${source}):\n${why}`, {
      cause: r.error,
    });
  }
  const operatorAllowlist = Object.freeze([...r.data.operatorAllowlist]);
  return Object.freeze({ ...r.data, operatorAllowlist }) as EgressConfig;
}
