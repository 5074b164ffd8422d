import { createHash } from 'node:crypto';
import { EosError, type RiskTier } from '@everythingos/proto';
import type { LlmConfig, LlmProviderConfig } from './llm-config.js';
import type { ModelGuard } from './model-guard.js';
import { TokenBudget } from './token-budget.js';
import { buildProviderRequest, parseProviderResponse, type ChatMessage, type CompletionRequest, type CompletionResult, type ProviderHttpRequest } from './wire-formats.js';

/** Sends one provider request (credentials injected by the transport) and returns status and body. */
export type LlmTransport = (provider: LlmProviderConfig, req: ProviderHttpRequest) => Promise<{ status: number; body: Buffer }>;

/** What the sanitizer reports (see `security/sanitize`). */
export interface SanitizeOutcome {
  sanitized: string;
  injectionDetected: boolean;
  categories: string[];
  piiCategories: string[];
  originalHash: string;
}

/** What the output filter reports. */
export interface OutputFilterOutcome {
  blocked: boolean;
  text: string;
  reasons: string[];
}

/** A decision record for the ledger: hashes, never raw prompts or outputs. */
export interface LlmDecision {
  kind: 'llm.think' | 'llm.blocked' | 'llm.denied';
  agentId: string;
  model: string;
  inputHash: string;
  outputHash?: string;
  systemPromptHash?: string;
  userContentHash?: string;
  injectionCategories?: string[];
  inputTokens?: number;
  outputTokens?: number;
  filterReasons?: string[];
  code?: string;
}

export interface LlmGatewayDeps {
  config: LlmConfig;
  guard: ModelGuard;
  transport: LlmTransport;
  sanitize: (text: string) => SanitizeOutcome;
  filterOutput: (text: string, opts: { strict: boolean }) => OutputFilterOutcome;
  /** Replaces vault secrets in text returned to agents. */
  redactSecrets: (text: string) => string;
  /** Awaited before the answer is returned: a failing ledger fails the call. */
  record: (decision: LlmDecision) => Promise<void>;
  now?: () => number;
}

/** The caller as the supervisor knows it (never as the agent claims). */
export interface LlmCaller {
  agentId: string;
  tier: RiskTier;
  /** `provider:model` from the manifest, if it declares one. */
  model: string | undefined;
  /** Operator opt-in for LOW-tier agents. */
  allowModel: boolean;
}

export interface ThinkOptions {
  systemPrompt?: string;
  temperature?: number;
  maxTokens?: number;
}

const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** The placeholder `thinkWithUserInput` templates must contain. */
export const USER_CONTENT_PLACEHOLDER = '{userContent}';

/**
 * The supervisor's LLM gateway behind `Think` and `ThinkWithUserInput`: model allowlist, tier
 * budgets (calls and tokens per minute), provider call through the egress guard with the key
 * injected from the vault, output filter (strict for HIGH), secret redaction, and a ledger record
 * of hashes for every decision.
 */
export class LlmGateway {
  readonly #d: LlmGatewayDeps;
  readonly #now: () => number;
  readonly #budgets = new Map<string, TokenBudget>();
  readonly #providers: ReadonlyMap<string, LlmProviderConfig>;

  constructor(deps: LlmGatewayDeps) {
    this.#d = deps;
    this.#now = deps.now ?? Date.now;
    this.#providers = new Map(deps.config.providers.map((p) => [p.name, p]));
  }

  /**
   * @throws EosError `EOS_PERMISSION_DENIED` (no model declared, LOW tier without operator opt-in),
   *   `EOS_MODEL_NOT_ALLOWED`, `EOS_BUDGET_EXCEEDED`, `EOS_INVALID_ARGUMENT`, `EOS_LLM_PROVIDER_FAILED`,
   *   `EOS_OUTPUT_BLOCKED`.
   */
  async think(caller: LlmCaller, prompt: string, options: ThinkOptions = {}): Promise<string> {
    return this.#complete(caller, prompt, options, {});
  }

  /**
   * Sanitizes `userContent`, places it into `template` at every `{userContent}`, and thinks. A
   * HIGH-tier caller's input with a detected injection is refused.
   * @throws EosError as {@link think}, and `EOS_INPUT_REJECTED`.
   */
  async thinkWithUserInput(
    caller: LlmCaller,
    template: string,
    userContent: string,
    options: ThinkOptions = {},
  ): Promise<{ response: string; sanitized: SanitizeOutcome }> {
    if (!template.includes(USER_CONTENT_PLACEHOLDER)) {
      throw new EosError('EOS_INVALID_ARGUMENT', `the template must contain ${USER_CONTENT_PLACEHOLDER}`);
    }
    const sanitized = this.#d.sanitize(userContent);
    if (sanitized.injectionDetected && caller.tier === 'high') {
      await this.#d.record({
        kind: 'llm.denied',
        agentId: caller.agentId,
        model: caller.model ?? '',
        inputHash: sha256(template),
        userContentHash: sanitized.originalHash,
        injectionCategories: sanitized.categories,
        code: 'EOS_INPUT_REJECTED',
      });
      throw new EosError('EOS_INPUT_REJECTED', `untrusted input looks like a prompt injection (${sanitized.categories.join(', ')}); a high-tier agent may not pass it to a model`, {
        details: { categories: sanitized.categories },
      });
    }
    const prompt = template.split(USER_CONTENT_PLACEHOLDER).join(sanitized.sanitized);
    const response = await this.#complete(caller, prompt, options, {
      userContentHash: sanitized.originalHash,
      injectionCategories: sanitized.categories,
    });
    return { response, sanitized };
  }

  /** Calls and tokens the agent used in the last minute. */
  usage(agentId: string): { calls: number; tokens: number } {
    return this.#budgets.get(agentId)?.usage() ?? { calls: 0, tokens: 0 };
  }

  async #complete(caller: LlmCaller, prompt: string, options: ThinkOptions, extra: Partial<LlmDecision>): Promise<string> {
    const model = caller.model;
    if (model === undefined) {
      throw new EosError('EOS_PERMISSION_DENIED', `agent ${caller.agentId} declares no model in its manifest`);
    }
    if (caller.tier === 'low' && !caller.allowModel) {
      throw new EosError('EOS_PERMISSION_DENIED', `agent ${caller.agentId} is low tier; it may call models only when the operator sets allowModel`);
    }
    this.#d.guard.assertAllowed(model);
    if (prompt.length === 0 || prompt.length > this.#d.config.maxPromptChars) {
      throw new EosError('EOS_INVALID_ARGUMENT', `prompts are 1 to ${this.#d.config.maxPromptChars} characters`);
    }
    const budget = this.#d.config.budgets[caller.tier];
    let meter = this.#budgets.get(caller.agentId);
    if (meter === undefined) {
      meter = new TokenBudget(this.#now);
      this.#budgets.set(caller.agentId, meter);
    }
    const used = meter.usage();
    if (used.calls >= budget.callsPerMin || used.tokens >= budget.tokensPerMin) {
      throw new EosError('EOS_BUDGET_EXCEEDED', `agent ${caller.agentId} used its ${caller.tier}-tier model budget for this minute`, {
        details: { ...used, callsPerMin: budget.callsPerMin, tokensPerMin: budget.tokensPerMin },
      });
    }
    const sep = model.indexOf(':');
    const provider = this.#providers.get(model.slice(0, sep));
    if (provider === undefined) {
      throw new EosError('EOS_MODEL_NOT_ALLOWED', `no provider configured for ${model}`);
    }
    const messages: ChatMessage[] = [];
    if (options.systemPrompt !== undefined && options.systemPrompt !== '') {
      messages.push({ role: 'system', content: options.systemPrompt });
    }
    messages.push({ role: 'user', content: prompt });
    const request: CompletionRequest = {
      model: model.slice(sep + 1),
      messages,
      temperature: clamp(options.temperature ?? 0.7, 0, 2),
      maxTokens: Math.max(1, Math.min(options.maxTokens ?? budget.maxTokensPerCall, budget.maxTokensPerCall, budget.tokensPerMin - used.tokens)),
    };
    meter.recordCall();
    const result = await this.#call(provider, request);
    meter.recordTokens(result.inputTokens + result.outputTokens);
    const base: LlmDecision = {
      kind: 'llm.think',
      agentId: caller.agentId,
      model,
      inputHash: sha256(prompt),
      ...(options.systemPrompt === undefined ? {} : { systemPromptHash: sha256(options.systemPrompt) }),
      inputTokens: result.inputTokens,
      outputTokens: result.outputTokens,
      ...extra,
    };
    const filtered = this.#d.filterOutput(result.text, { strict: caller.tier === 'high' });
    if (filtered.blocked) {
      await this.#d.record({ ...base, kind: 'llm.blocked', outputHash: sha256(result.text), filterReasons: filtered.reasons, code: 'EOS_OUTPUT_BLOCKED' });
      throw new EosError('EOS_OUTPUT_BLOCKED', `the model's answer was blocked by the output filter (${filtered.reasons.join(', ')})`, {
        details: { reasons: filtered.reasons },
      });
    }
    const text = this.#d.redactSecrets(filtered.text);
    await this.#d.record({ ...base, outputHash: sha256(text), filterReasons: filtered.reasons });
    return text;
  }

  /** Runs one completion without budgets or filters: for fingerprint probes by the operator. */
  async probe(model: string, req: Omit<CompletionRequest, 'model'>): Promise<CompletionResult> {
    this.#d.guard.assertAllowed(model);
    const sep = model.indexOf(':');
    const provider = this.#providers.get(model.slice(0, sep));
    if (provider === undefined) {
      throw new EosError('EOS_MODEL_NOT_ALLOWED', `no provider configured for ${model}`);
    }
    return this.#call(provider, { ...req, model: model.slice(sep + 1) });
  }

  async #call(provider: LlmProviderConfig, request: CompletionRequest): Promise<CompletionResult> {
    const http = buildProviderRequest(provider, request);
    const res = await this.#d.transport(provider, http);
    return parseProviderResponse(provider, res.status, res.body);
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : lo;
}
