import { z } from 'zod';

const Provider = z.strictObject({
  /** Name used in model references (`<name>:<model>`). */
  name: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/),
  /** Wire format: OpenAI-compatible chat completions (OpenAI, Ollama, vLLM, llama.cpp), Anthropic Messages, Gemini. */
  kind: z.enum(['openai', 'anthropic', 'gemini']),
  /** Base URL, e.g. https://api.openai.com/v1, https://api.anthropic.com, http://127.0.0.1:11434/v1. */
  baseUrl: z.url({ protocol: /^https?$/ }),
  /** Vault secret holding the API key; none for a keyless local server. */
  apiKeySecret: z.string().min(1).optional(),
  /** Models of this provider agents may use: the allowlist, frozen at start. */
  models: z.array(z.string().min(1).max(128)).min(1),
});

const Budget = z.strictObject({
  /** Model calls per minute per agent. */
  callsPerMin: z.number().int().min(0),
  /** Prompt + completion tokens per minute per agent. */
  tokensPerMin: z.number().int().min(0),
  /** Largest completion asked for in one call, tokens. */
  maxTokensPerCall: z.number().int().positive(),
});

/** The `llm` section of eosd.yaml. */
export const LlmConfigSchema = z.strictObject({
  providers: z.array(Provider).default([]),
  /** Per-tier budgets. LOW agents call models only when the operator sets `allowModel` on them. */
  budgets: z
    .strictObject({
      low: Budget.default({ callsPerMin: 10, tokensPerMin: 10_000, maxTokensPerCall: 512 }),
      medium: Budget.default({ callsPerMin: 60, tokensPerMin: 100_000, maxTokensPerCall: 2_048 }),
      high: Budget.default({ callsPerMin: 30, tokensPerMin: 50_000, maxTokensPerCall: 2_048 }),
    })
    .prefault({}),
  /** Per call: time for the whole provider exchange, ms. */
  timeoutMs: z.number().int().positive().default(60_000),
  /** Longest prompt accepted from an agent, characters. */
  maxPromptChars: z.number().int().positive().default(100_000),
});

export type LlmConfigInput = z.input<typeof LlmConfigSchema>;
export type LlmConfig = z.output<typeof LlmConfigSchema>;
export type LlmProviderConfig = LlmConfig['providers'][number];
export type LlmBudget = z.output<typeof Budget>;
