import { EosError, type AgentManifest, type RiskTier } from '@everythingos/proto';

/** What a tier requires and enforces; docs/guides/tiers.md renders this table. */
export interface TierControls {
  /** `opt-in`: models only when the manifest declares `model:call` AND the operator sets `allowModel`; `declared`: the manifest's `model:call` suffices. */
  modelAccess: 'opt-in' | 'declared';
  /** Model calls are recorded in the ledger with input and output digests. */
  auditModelIo: boolean;
  /** Every act() is recorded in the ledger. */
  auditActs: boolean;
  /** Strictness of the LLM output filter. */
  outputFilter: 'normal' | 'strict';
  /** `full-required`: refuses to start unless every sandbox layer is active; `best-available`: runs degraded with a warning. */
  sandbox: 'best-available' | 'full-required';
  /** Which act() calls wait for a signed human approval. */
  actApproval: 'gated-channels' | 'every-act';
  /** The manifest must carry a non-blank `riskJustification`. */
  requiresJustification: boolean;
  /** At least one approver key must be registered in the config. */
  requiresApprover: boolean;
  /** With `model:call`, the manifest must declare its `genAIRisks`. */
  requiresGenAIRisks: boolean;
  /** Past the restart intensity the agent is quarantined (restart needs an approval), not only `errored`. */
  quarantineOnCrashLoop: boolean;
}

/** The controls of every tier. Model budgets per tier are `llm.budgets` in the config. */
export const TIER_CONTROLS: Readonly<Record<RiskTier, Readonly<TierControls>>> = Object.freeze({
  low: Object.freeze({
    modelAccess: 'opt-in',
    auditModelIo: true,
    auditActs: true,
    outputFilter: 'normal',
    sandbox: 'best-available',
    actApproval: 'gated-channels',
    requiresJustification: false,
    requiresApprover: false,
    requiresGenAIRisks: false,
    quarantineOnCrashLoop: false,
  }),
  medium: Object.freeze({
    modelAccess: 'declared',
    auditModelIo: true,
    auditActs: true,
    outputFilter: 'normal',
    sandbox: 'best-available',
    actApproval: 'gated-channels',
    requiresJustification: false,
    requiresApprover: false,
    requiresGenAIRisks: true,
    quarantineOnCrashLoop: false,
  }),
  high: Object.freeze({
    modelAccess: 'declared',
    auditModelIo: true,
    auditActs: true,
    outputFilter: 'strict',
    sandbox: 'full-required',
    actApproval: 'every-act',
    requiresJustification: true,
    requiresApprover: true,
    requiresGenAIRisks: true,
    quarantineOnCrashLoop: true,
  }),
} satisfies Record<RiskTier, TierControls>);

/** Everything preflight looks at, as the supervisor knows it (never as the agent claims). */
export interface PreflightInput {
  agentId: string;
  /** Tier in the operator's config. */
  configTier: RiskTier;
  /** Operator opt-in for LOW model access. */
  allowModel: boolean;
  manifest: Pick<AgentManifest, 'tier' | 'riskJustification' | 'capabilities' | 'genAIRisks'>;
  /** Registered approver keys. */
  approverCount: number;
  /** Whether every sandbox layer is active for this agent. */
  sandboxFull: boolean;
}

/** One reason an agent may not start. */
export interface PreflightProblem {
  check: 'tier-mismatch' | 'justification' | 'approver' | 'sandbox' | 'genai-risks' | 'low-model-opt-in';
  message: string;
}

/** Whether the agent may call models at all: the manifest declares `model:call` and, for LOW, the operator allows it. */
export function hasModelAccess(tier: RiskTier, manifest: Pick<AgentManifest, 'capabilities'>, allowModel: boolean): boolean {
  if (!manifest.capabilities.includes('model:call')) {
    return false;
  }
  return TIER_CONTROLS[tier].modelAccess === 'declared' || allowModel;
}

/**
 * Every reason the agent may not start, checked on every start path (autostart, start, restart,
 * backoff restart). Empty = may start. Pure.
 */
export function preflightProblems(input: PreflightInput): PreflightProblem[] {
  const problems: PreflightProblem[] = [];
  const { agentId: id, configTier: tier, manifest } = input;
  const controls = TIER_CONTROLS[tier];
  if (manifest.tier !== tier) {
    problems.push({ check: 'tier-mismatch', message: `agent ${id}: config tier "${tier}" differs from the manifest tier "${manifest.tier}"` });
  }
  if (controls.requiresJustification && manifest.riskJustification.trim() === '') {
    problems.push({ check: 'justification', message: `agent ${id}: a ${tier}-tier agent needs a non-blank riskJustification in its manifest` });
  }
  if (controls.requiresApprover && input.approverCount === 0) {
    problems.push({
      check: 'approver',
      message: `agent ${id}: a ${tier}-tier agent needs at least one approver key in approvals.approvers (eosd keys approver init)`,
    });
  }
  if (controls.sandbox === 'full-required' && !input.sandboxFull) {
    problems.push({ check: 'sandbox', message: `agent ${id}: a ${tier}-tier agent never runs without the full sandbox (see eosd doctor)` });
  }
  const declaresModel = manifest.capabilities.includes('model:call');
  if (controls.requiresGenAIRisks && declaresModel && manifest.genAIRisks === undefined) {
    problems.push({ check: 'genai-risks', message: `agent ${id}: a ${tier}-tier agent with model:call must declare genAIRisks in its manifest` });
  }
  if (controls.modelAccess === 'opt-in' && declaresModel && !input.allowModel) {
    problems.push({
      check: 'low-model-opt-in',
      message: `agent ${id}: a ${tier}-tier agent declares model:call but the operator has not set allowModel on it; set allowModel or drop the capability`,
    });
  }
  return problems;
}

/**
 * Throws when {@link preflightProblems} finds anything.
 * @throws EosError `EOS_PREFLIGHT_FAILED` with every problem in the message and `details.problems`.
 */
export function assertPreflight(input: PreflightInput): void {
  const problems = preflightProblems(input);
  if (problems.length > 0) {
    throw new EosError('EOS_PREFLIGHT_FAILED', `agent ${input.agentId} may not start:\n- ${problems.map((p) => p.message).join('\n- ')}`, {
      details: { agentId: input.agentId, problems },
    });
  }
}

/** Whether act() on `channel` by an agent of `tier` waits for a signed human approval. */
export function actNeedsApproval(tier: RiskTier, channel: string, gatedChannels: readonly string[]): boolean {
  return TIER_CONTROLS[tier].actApproval === 'every-act' || gatedChannels.includes(channel);
}
