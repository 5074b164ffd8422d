import { describe, expect, it } from 'vitest';
import type { GenAIRisks } from '@everythingos/proto';
import { actNeedsApproval, assertPreflight, hasModelAccess, preflightProblems, TIER_CONTROLS, type PreflightInput } from '../src/agent/tier-policy.js';

const risks: GenAIRisks = {
  promptInjection: true,
  sensitiveDataDisclosure: false,
  insecureOutputHandling: false,
  excessiveAgency: true,
  overreliance: false,
};

function input(over: Partial<Omit<PreflightInput, 'manifest'>> & { manifest?: Partial<PreflightInput['manifest']> } = {}): PreflightInput {
  const tier = over.configTier ?? 'high';
  return {
    agentId: 'payments',
    configTier: tier,
    allowModel: false,
    approverCount: 1,
    sandboxFull: true,
    ...over,
    manifest: { tier, riskJustification: 'moves money', capabilities: [], genAIRisks: undefined, ...over.manifest },
  };
}

describe('preflightProblems', () => {
  it('passes a complete HIGH agent', () => {
    expect(preflightProblems(input({ manifest: { capabilities: ['model:call'], genAIRisks: risks } }))).toEqual([]);
  });

  it('reports every HIGH problem at once: justification, approver, sandbox, GenAI risks, tier mismatch', () => {
    const problems = preflightProblems(
      input({ approverCount: 0, sandboxFull: false, manifest: { tier: 'medium', riskJustification: '  ', capabilities: ['model:call'] } }),
    );
    expect(problems.map((p) => p.check).sort()).toEqual(['approver', 'genai-risks', 'justification', 'sandbox', 'tier-mismatch']);
  });

  it('requires GenAI risk flags for MEDIUM agents with model access, not without', () => {
    expect(preflightProblems(input({ configTier: 'medium', manifest: { capabilities: ['model:call'] } })).map((p) => p.check)).toEqual([
      'genai-risks',
    ]);
    expect(preflightProblems(input({ configTier: 'medium', approverCount: 0, sandboxFull: false }))).toEqual([]);
  });

  it('refuses a LOW agent declaring model:call unless the operator sets allowModel', () => {
    const low = { configTier: 'low' as const, approverCount: 0, sandboxFull: false, manifest: { capabilities: ['model:call' as const] } };
    expect(preflightProblems(input(low)).map((p) => p.check)).toEqual(['low-model-opt-in']);
    expect(preflightProblems(input({ ...low, allowModel: true }))).toEqual([]);
  });

  it('assertPreflight throws EOS_PREFLIGHT_FAILED with every problem in details', () => {
    expect(() => assertPreflight(input({ approverCount: 0, sandboxFull: false }))).toThrow(
      expect.objectContaining({ code: 'EOS_PREFLIGHT_FAILED', details: expect.objectContaining({ problems: expect.any(Array) }) }),
    );
    try {
      assertPreflight(input({ approverCount: 0, sandboxFull: false }));
    } catch (err) {
      expect((err as { details: { problems: unknown[] } }).details.problems).toHaveLength(2);
    }
  });
});

describe('tier controls', () => {
  it('LOW calls models only when manifest and operator both allow it', () => {
    expect(hasModelAccess('low', { capabilities: ['model:call'] }, false)).toBe(false);
    expect(hasModelAccess('low', { capabilities: [] }, true)).toBe(false);
    expect(hasModelAccess('low', { capabilities: ['model:call'] }, true)).toBe(true);
    expect(hasModelAccess('medium', { capabilities: ['model:call'] }, false)).toBe(true);
    expect(hasModelAccess('high', { capabilities: [] }, true)).toBe(false);
  });

  it('HIGH acts always need approval; other tiers only on gated channels', () => {
    expect(actNeedsApproval('high', 'x.y', [])).toBe(true);
    expect(actNeedsApproval('medium', 'x.y', [])).toBe(false);
    expect(actNeedsApproval('low', 'pay.send', ['pay.send'])).toBe(true);
  });

  it('HIGH requires the full sandbox, strict output filter and quarantine on crash loop', () => {
    expect(TIER_CONTROLS.high).toMatchObject({ sandbox: 'full-required', outputFilter: 'strict', quarantineOnCrashLoop: true });
    expect(Object.isFrozen(TIER_CONTROLS.high)).toBe(true);
  });
});
