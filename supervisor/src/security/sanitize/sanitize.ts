import { createHash } from 'node:crypto';
import { detectInjection } from './detect-injection.js';
import type { ObfuscationKind } from './detect-injection.js';
import type { InjectionCategory } from './injection-rules.js';
import { normalizeText } from './normalize-text.js';
import { SanitizeOptions, parseOptions } from './sanitize-options.js';
import type { SanitizeOptionsInput } from './sanitize-options.js';
import { scrubPii } from './scrub-pii.js';
import type { PiiCategory } from './scrub-pii.js';

/** Result of {@link sanitize}: the `eosd sanitize` / `SanitizeInput` JSON shape plus audit extras. */
export interface SanitizeResult {
  /** Normalized text with PII redacted and chat-template tokens neutralized; safe to forward. */
  readonly sanitized: string;
  /** `score >= threshold`. The input is never rejected here; policy decides what to do. */
  readonly injectionDetected: boolean;
  /** Injection categories with at least one matching rule (may be non-empty below threshold). */
  readonly categories: InjectionCategory[];
  /** PII categories redacted from `sanitized`. */
  readonly piiCategories: PiiCategory[];
  /** SHA-256 of the raw input's UTF-8 bytes, lower-case hex: audit without keeping the text. */
  readonly originalHash: string;
  /** 0..1 injection evidence. */
  readonly score: number;
  /** Ids of the matched rules (for `eosd_sanitizer_detections_total{rule}`). */
  readonly rules: string[];
  /** Obfuscations that hid a finding (base64, homoglyph, …): evidence of intent. */
  readonly obfuscation: ObfuscationKind[];
}

const DEFAULT_OPTIONS = parseOptions(SanitizeOptions, {}, 'sanitize');
const DELIMITER_PLACEHOLDER = '[FILTERED:delimiter]';
const TEMPLATE_LITERALS: readonly string[] = ['[inst]', '[/inst]', '<<sys>>', '<</sys>>', '<start_of_turn>', '<end_of_turn>'];
const MAX_SPECIAL_TOKEN_CHARS = 40;

/**
 * Sanitizes untrusted text before it reaches a model or an agent: normalizes it (NFKC, invisible
 * and bidi characters removed, whitespace collapsed), analyses the *whole* input for prompt
 * injection (including confusable, leetspeak, spaced-out and base64/hex/URL-encoded forms),
 * redacts PII and neutralizes chat-template tokens. Pure and linear-time; the raw input is only
 * hashed, never returned or logged.
 *
 * @example
 * ```ts
 * const r = sanitize('Ignore all previous instructions');
 * // r.injectionDetected === true, r.categories = ['instruction_override']
 * ```
 * @throws EosError `EOS_INVALID_ARGUMENT` when `options` is invalid.
 */
export function sanitize(input: string, options?: SanitizeOptionsInput): SanitizeResult {
  const opts = options === undefined ? DEFAULT_OPTIONS : parseOptions(SanitizeOptions, options, 'sanitize');
  const originalHash = createHash('sha256').update(input, 'utf8').digest('hex');
  const normalized = normalizeText(input);
  const findings = detectInjection(normalized.text, {
    maxDecodeDepth: opts.maxDecodeDepth,
    invisibleRemoved: normalized.invisibleRemoved,
    smuggledTagText: normalized.smuggledTagText,
  });
  let text = opts.neutralizeDelimiters ? neutralizeDelimiters(normalized.text) : normalized.text;
  let piiCategories: PiiCategory[] = [];
  if (opts.scrubPii) {
    const scrubbed = scrubPii(text);
    text = scrubbed.scrubbed;
    piiCategories = scrubbed.piiCategories;
  }
  return {
    sanitized: text,
    injectionDetected: findings.score >= opts.threshold && findings.score > 0,
    categories: findings.categories,
    piiCategories,
    originalHash,
    score: findings.score,
    rules: findings.rules,
    obfuscation: findings.obfuscation,
  };
}

function isTokenNameChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f;
}

/**
 * Replaces `<|name|>` special tokens and Llama-2/Gemma markers so a provider that parses special
 * tokens out of text cannot be fed a forged turn. Each `<` or `[` costs a bounded look-ahead.
 */
export function neutralizeDelimiters(text: string): string {
  const parts: string[] = [];
  let cursor = 0;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c !== 0x3c && c !== 0x5b) {
      i += 1;
      continue;
    }
    let end = -1;
    if (c === 0x3c && text.charCodeAt(i + 1) === 0x7c) {
      let j = i + 2;
      const limit = Math.min(text.length, j + MAX_SPECIAL_TOKEN_CHARS);
      while (j < limit && isTokenNameChar(text.charCodeAt(j))) {
        j += 1;
      }
      if (j > i + 2 && text.charCodeAt(j) === 0x7c && text.charCodeAt(j + 1) === 0x3e) {
        end = j + 2;
      }
    } else {
      for (const literal of TEMPLATE_LITERALS) {
        if (text.slice(i, i + literal.length).toLowerCase() === literal) {
          end = i + literal.length;
          break;
        }
      }
    }
    if (end < 0) {
      i += 1;
      continue;
    }
    parts.push(text.slice(cursor, i), DELIMITER_PLACEHOLDER);
    cursor = end;
    i = end;
  }
  parts.push(text.slice(cursor));
  return parts.join('');
}
