import { z } from 'zod';

// Schemas of Glasswally's real output records (events.rs / ioc_feed.rs at 300eedc), strict:
// unknown keys are errors. Field order is the Rust struct order, which signature checks rely on.

const Rfc3339 = z.string().max(64).regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?Z$/);
const u32 = z.number().int().min(0).max(4_294_967_295);
const str = (max: number): z.ZodString => z.string().max(max);
const list = (maxItems: number, maxLen = 256): z.ZodArray<z.ZodString> => z.array(str(maxLen)).max(maxItems);

/** Every ActionKind serde variant; only the first five are produced by Glasswally today. */
export const GW_ACTION_KINDS = ['SuspendAccount', 'ClusterTakedown', 'InjectCanary', 'RateLimit', 'FlagForReview', 'Monitor', 'IntelShare'] as const;

export const GwCanaryToken = z.strictObject({
  token: z.string().regex(/^[0-9a-f]{32}$/),
  account_id: str(256),
  request_id: str(256),
  inserted_at: Rfc3339,
  triggered: z.boolean(),
  trigger_ts: Rfc3339.nullable(),
});

export const GwEnforcementAction = z.strictObject({
  action_type: z.enum(GW_ACTION_KINDS),
  account_id: z.string().min(1).max(256).nullable(),
  cluster_id: u32.nullable(),
  affected_accounts: list(10_000),
  reason: str(2048),
  evidence: list(100, 512),
  composite_score: z.number().min(0).max(1),
  canary_token: GwCanaryToken.nullable(),
  timestamp: Rfc3339,
});
export type GwEnforcementAction = z.output<typeof GwEnforcementAction>;

export const GwIocBundle = z.strictObject({
  cluster_id: u32,
  ip_addresses: list(100_000, 45),
  ip_subnets: list(10_000, 45),
  payment_hashes: list(100_000),
  ja3_hashes: list(100_000, 64),
  ja3s_hashes: list(100_000, 64),
  header_order_hashes: list(100_000),
  h2_fingerprints: list(100_000),
  watermark_tokens: list(100_000),
  account_ids: list(1_000_000),
  country_codes: list(300, 8),
  first_seen: Rfc3339,
  last_seen: Rfc3339,
  // Above 2^53 JSON re-serialization in JS no longer reproduces serde's bytes: reject.
  total_requests: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  targeted_capabilities: list(100, 512),
  confidence: z.number().min(0).max(1),
  timestamp: Rfc3339,
});
export type GwIocBundle = z.output<typeof GwIocBundle>;

export const GwIocFeedEntry = z.strictObject({
  schema_version: z.literal('glasswally/ioc/v1'),
  provider_id: str(256),
  bundle: GwIocBundle,
  signature: z.string().regex(/^[0-9a-f]{64}$/),
  exported_at: Rfc3339,
});
export type GwIocFeedEntry = z.output<typeof GwIocFeedEntry>;

/** The predecessor's (EverythingOS GlasswallyAgent) signed `ioc_bundle_<id>.json`, accepted for compatibility. */
export const LegacySignedBundle = z.object({
  cluster_id: z.string().min(1).max(256),
  ips: list(100_000, 45).default([]),
  subnets: list(10_000, 45).default([]),
  tls_fingerprints: list(100_000).default([]),
  account_ids: list(1_000_000).default([]),
  confidence: z.number().min(0).max(1),
  timestamp: str(64),
  hmac: z.string().regex(/^[0-9a-f]{64}$/),
});
export type LegacySignedBundle = z.output<typeof LegacySignedBundle>;

/** The exact bytes Glasswally signs: serde_json of the IocBundle, fields in struct order. */
export function gwBundleSigningBytes(b: GwIocBundle): string {
  const ordered: GwIocBundle = {
    cluster_id: b.cluster_id,
    ip_addresses: b.ip_addresses,
    ip_subnets: b.ip_subnets,
    payment_hashes: b.payment_hashes,
    ja3_hashes: b.ja3_hashes,
    ja3s_hashes: b.ja3s_hashes,
    header_order_hashes: b.header_order_hashes,
    h2_fingerprints: b.h2_fingerprints,
    watermark_tokens: b.watermark_tokens,
    account_ids: b.account_ids,
    country_codes: b.country_codes,
    first_seen: b.first_seen,
    last_seen: b.last_seen,
    total_requests: b.total_requests,
    targeted_capabilities: b.targeted_capabilities,
    confidence: b.confidence,
    timestamp: b.timestamp,
  };
  return JSON.stringify(ordered);
}

/** The bytes the predecessor signed: the bundle without `hmac`, schema order, missing arrays as []. */
export function legacySigningBytes(b: LegacySignedBundle): string {
  return JSON.stringify({
    cluster_id: b.cluster_id,
    ips: b.ips,
    subnets: b.subnets,
    tls_fingerprints: b.tls_fingerprints,
    account_ids: b.account_ids,
    confidence: b.confidence,
    timestamp: b.timestamp,
  });
}
