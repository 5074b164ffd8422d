import { EosError } from '@everythingos/proto';
import type { LlmProviderConfig } from './llm-config.js';

/** One chat turn. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

/** A provider-neutral completion request. */
export interface CompletionRequest {
  model: string;
  messages: ChatMessage[];
  temperature: number;
  maxTokens: number;
}

/** A provider-neutral completion result. */
export interface CompletionResult {
  text: string;
  inputTokens: number;
  outputTokens: number;
  finishReason: string;
}

/** An HTTP request to a provider, before credentials are injected. */
export interface ProviderHttpRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  /** Header and prefix the provider expects its API key in. */
  credentialHeader: { name: string; prefix: string };
}

function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

/** Builds the provider's real wire request for `req`. */
export function buildProviderRequest(p: LlmProviderConfig, req: CompletionRequest): ProviderHttpRequest {
  const json = { 'content-type': 'application/json', accept: 'application/json' };
  switch (p.kind) {
    case 'openai':
      return {
        url: joinUrl(p.baseUrl, 'chat/completions'),
        headers: json,
        body: JSON.stringify({ model: req.model, messages: req.messages, temperature: req.temperature, max_tokens: req.maxTokens, stream: false }),
        credentialHeader: { name: 'authorization', prefix: 'Bearer ' },
      };
    case 'anthropic': {
      const system = req.messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n\n');
      return {
        url: joinUrl(p.baseUrl, 'v1/messages'),
        headers: { ...json, 'anthropic-version': '2023-06-01' },
        body: JSON.stringify({
          model: req.model,
          max_tokens: req.maxTokens,
          temperature: req.temperature,
          ...(system === '' ? {} : { system }),
          messages: req.messages.filter((m) => m.role !== 'system').map((m) => ({ role: m.role, content: m.content })),
        }),
        credentialHeader: { name: 'x-api-key', prefix: '' },
      };
    }
    case 'gemini': {
      const system = req.messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n\n');
      return {
        url: joinUrl(p.baseUrl, `v1beta/models/${encodeURIComponent(req.model)}:generateContent`),
        headers: json,
        body: JSON.stringify({
          contents: req.messages
            .filter((m) => m.role !== 'system')
            .map((m) => ({ role: m.role === 'assistant' ? 'model' : 'user', parts: [{ text: m.content }] })),
          ...(system === '' ? {} : { systemInstruction: { parts: [{ text: system }] } }),
          generationConfig: { temperature: req.temperature, maxOutputTokens: req.maxTokens },
        }),
        credentialHeader: { name: 'x-goog-api-key', prefix: '' },
      };
    }
  }
}

function bad(p: LlmProviderConfig, why: string): EosError {
  return new EosError('EOS_LLM_PROVIDER_FAILED', `provider ${p.name} (${p.kind}) answered ${why}`);
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);

/**
 * Reads the provider's real wire response.
 * @throws EosError `EOS_LLM_PROVIDER_FAILED` on an error status or a body of the wrong shape.
 */
export function parseProviderResponse(p: LlmProviderConfig, status: number, body: Buffer): CompletionResult {
  let data: unknown;
  try {
    data = JSON.parse(body.toString('utf8'));
  } catch {
    throw bad(p, `status ${status} with a body that is not JSON`);
  }
  const d = data as Record<string, unknown>;
  if (status < 200 || status >= 300) {
    const err = d.error as { message?: unknown } | string | undefined;
    const msg = typeof err === 'string' ? err : typeof err?.message === 'string' ? err.message : '';
    throw bad(p, `status ${status}${msg ? `: ${msg.slice(0, 200)}` : ''}`);
  }
  switch (p.kind) {
    case 'openai': {
      const choice = (d.choices as { message?: { content?: unknown }; finish_reason?: unknown }[] | undefined)?.[0];
      const text = choice?.message?.content;
      if (typeof text !== 'string') {
        throw bad(p, 'without choices[0].message.content');
      }
      const usage = (d.usage ?? {}) as Record<string, unknown>;
      return { text, inputTokens: num(usage.prompt_tokens), outputTokens: num(usage.completion_tokens), finishReason: String(choice?.finish_reason ?? '') };
    }
    case 'anthropic': {
      const blocks = d.content as { type?: unknown; text?: unknown }[] | undefined;
      if (!Array.isArray(blocks)) {
        throw bad(p, 'without a content array');
      }
      const text = blocks.filter((b) => b.type === 'text' && typeof b.text === 'string').map((b) => b.text as string).join('');
      const usage = (d.usage ?? {}) as Record<string, unknown>;
      return { text, inputTokens: num(usage.input_tokens), outputTokens: num(usage.output_tokens), finishReason: String(d.stop_reason ?? '') };
    }
    case 'gemini': {
      const cand = (d.candidates as { content?: { parts?: { text?: unknown }[] }; finishReason?: unknown }[] | undefined)?.[0];
      const parts = cand?.content?.parts;
      if (!Array.isArray(parts)) {
        throw bad(p, 'without candidates[0].content.parts');
      }
      const text = parts.map((x) => (typeof x.text === 'string' ? x.text : '')).join('');
      const usage = (d.usageMetadata ?? {}) as Record<string, unknown>;
      return { text, inputTokens: num(usage.promptTokenCount), outputTokens: num(usage.candidatesTokenCount), finishReason: String(cand?.finishReason ?? '') };
    }
  }
}
