import { z } from 'zod';
import { EosError } from './errors.js';

/**
 * Channel names are exact: lowercase segments separated by `.`, `:`, `-` or `_`. No wildcards:
 * an agent declares every channel it publishes or subscribes to.
 */
export const CHANNEL_NAME = /^[a-z0-9](?:[a-z0-9._:-]{0,126}[a-z0-9])?$/;

/** Agent ids: what config, sockets, uids and the ledger key on. 63 bytes keeps socket paths short. */
export const AGENT_ID = /^[a-z][a-z0-9-]{0,62}$/;

export const RISK_TIERS = ['low', 'medium', 'high'] as const;
/** How much an agent can harm; each tier adds controls (see docs/guides/tiers.md). */
export type RiskTier = (typeof RISK_TIERS)[number];

export const CAPABILITIES = [
  'model:call',
  'memory:read',
  'memory:write',
  'network:http',
  'eventbus:publish',
  'eventbus:subscribe',
  'ledger:write',
  'secrets:use',
  'state:read',
  'state:write',
] as const;
export type Capability = (typeof CAPABILITIES)[number];

/** `provider:model`, as listed in the operator's model allowlist. */
export const MODEL_REF = /^[a-z][a-z0-9-]{0,31}:[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}$/;

/** An egress allowlist entry: a host name or IP literal, optionally with `:port`. */
const EGRESS_HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
/**
 * GenAI risk flags an agent with model access declares (OWASP Top 10 for LLM applications). Each is
 * answered explicitly: `true` means the agent is exposed to that risk and its author accepts the
 * tier's controls for it.
 */
export const GENAI_RISK_FLAGS = [
  'promptInjection',
  'sensitiveDataDisclosure',
  'insecureOutputHandling',
  'excessiveAgency',
  'overreliance',
] as const;
export type GenAIRiskFlag = (typeof GENAI_RISK_FLAGS)[number];

const GenAIRisksSchema = z.strictObject(
  Object.fromEntries(GENAI_RISK_FLAGS.map((f) => [f, z.boolean()])) as Record<GenAIRiskFlag, z.ZodBoolean>,
);
/** The declared GenAI risk flags; required for MEDIUM and HIGH agents with `model:call`. */
export type GenAIRisks = z.output<typeof GenAIRisksSchema>;

const channel = z.string().regex(CHANNEL_NAME, 'channel names are exact lowercase names such as "demo.ping"; no wildcards');

const channelList = z
  .array(channel)
  .max(256)
  .default([])
  .refine((list) => new Set(list).size === list.length, 'channels must not repeat');

/** The `everythingos` field of an agent package's package.json, as the supervisor validates it. */
export const AgentManifestSchema = z
  .strictObject({
    id: z.string().regex(AGENT_ID, 'ids are lowercase letters, digits and dashes, start with a letter, at most 63 long'),
    name: z.string().min(1).max(128),
    version: z.string().regex(/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/, 'a semver version such as 1.2.3'),
    description: z.string().min(10).max(1000),
    tier: z.enum(RISK_TIERS),
    /** Why this agent needs its tier; required (non-blank) for `high`. */
    riskJustification: z.string().max(2000).default(''),
    publish: channelList,
    subscribe: channelList,
    capabilities: z.array(z.enum(CAPABILITIES)).default([]),
    /** The model `think()` uses, `provider:model`; it must be on the operator's allowlist. */
    model: z.string().regex(MODEL_REF, 'a model reference such as "openai:gpt-4o-mini"').optional(),
    /** Hosts `fetch()` may reach (`host` = default port only, or `host:port`); none by default. */
    egress: z
      .strictObject({ allowedHosts: z.array(z.string().regex(EGRESS_HOST, 'a host name or IP literal, optionally with :port')).max(64).default([]) })
      .prefault({}),
    /** Declared GenAI risks; absent = undeclared (a preflight problem for MEDIUM/HIGH with `model:call`). */
    genAIRisks: GenAIRisksSchema.optional(),
    /** Period of `onTick` in milliseconds; 0 = no ticks. @defaultValue 0 */
    tickRateMs: z.number().int().min(0).max(86_400_000).default(0),
  })
  .superRefine((m, ctx) => {
    if (m.tier === 'high' && m.riskJustification.trim() === '') {
      ctx.addIssue({ code: 'custom', path: ['riskJustification'], message: 'a high-tier agent needs a riskJustification' });
    }
    if (m.model !== undefined && !m.capabilities.includes('model:call')) {
      ctx.addIssue({ code: 'custom', path: ['capabilities'], message: 'an agent that declares a model must declare the "model:call" capability' });
    }
    if (m.egress.allowedHosts.length > 0 && !m.capabilities.includes('network:http')) {
      ctx.addIssue({ code: 'custom', path: ['capabilities'], message: 'an agent with egress.allowedHosts must declare the "network:http" capability' });
    }
    if (m.tickRateMs > 0 && m.tickRateMs < 10) {
      ctx.addIssue({ code: 'custom', path: ['tickRateMs'], message: 'tickRateMs must be 0 (off) or at least 10' });
    }
  });

/** What an author writes in package.json. */
export type AgentManifestInput = z.input<typeof AgentManifestSchema>;
/** A validated manifest with defaults applied. */
export type AgentManifest = z.output<typeof AgentManifestSchema>;

/**
 * Validates a manifest read as data (never by running agent code).
 * @throws EosError `EOS_MANIFEST_INVALID` listing every problem at once.
 */
export function parseManifest(raw: unknown, source: string): AgentManifest {
  const r = AgentManifestSchema.safeParse(raw);
  if (!r.success) {
    throw new EosError('EOS_MANIFEST_INVALID', `invalid agent manifest (${source}):\n${z.prettifyError(r.error)}`, {
      cause: r.error,
      details: { source, issues: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
    });
  }
  return Object.freeze(r.data);
}
