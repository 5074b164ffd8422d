/**
 * @module llm
 *
 * The LLM gateway behind `Think`/`ThinkWithUserInput`, the model guard (allowlist and signed
 * behavioural fingerprints), provider wire formats (OpenAI-compatible, Anthropic Messages, Gemini),
 * and the transport over the egress guard.
 */
export { LlmConfigSchema } from './llm-config.js';
export type { LlmConfig, LlmConfigInput, LlmProviderConfig, LlmBudget } from './llm-config.js';
export { LlmGateway, USER_CONTENT_PLACEHOLDER } from './llm-gateway.js';
export type { LlmCaller, LlmDecision, LlmGatewayDeps, LlmTransport, OutputFilterOutcome, SanitizeOutcome, ThinkOptions } from './llm-gateway.js';
export { ModelGuard, DEFAULT_PROBES } from './model-guard.js';
export type { BaselineSigner, FingerprintProbe, FingerprintResult } from './model-guard.js';
export { buildProviderRequest, parseProviderResponse } from './wire-formats.js';
export type { ChatMessage, CompletionRequest, CompletionResult, ProviderHttpRequest } from './wire-formats.js';
export { createEgressTransport, LLM_EGRESS_AGENT } from './egress-transport.js';
