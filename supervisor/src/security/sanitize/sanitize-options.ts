import { EosError } from '@everythingos/proto';
import { z } from 'zod';

/** Options of `sanitize()`. */
export const SanitizeOptions = z.strictObject({
  /** Redact PII in `sanitized` and report `piiCategories`. */
  scrubPii: z.boolean().default(true),
  /** `injectionDetected` is `score >= threshold`; 0.5 = one strong rule or two weaker ones. */
  threshold: z.number().min(0).max(1).default(0.5),
  /** How many nested encodings (base64 in URL-encoding, …) are decoded and analysed. */
  maxDecodeDepth: z.number().int().min(0).max(4).default(2),
  /** Replace chat-template special tokens (`<|im_start|>`, `[INST]`, …) in `sanitized`. */
  neutralizeDelimiters: z.boolean().default(true),
});
/** What callers may pass to `sanitize()`. */
export type SanitizeOptionsInput = z.input<typeof SanitizeOptions>;
/** Validated options with defaults applied. */
export type SanitizeOptions = z.output<typeof SanitizeOptions>;

/** Options of `filterModelOutput()`. */
export const OutputFilterOptions = z.strictObject({
  /** HIGH-tier mode: credentials, code-execution and irreversible-action language block too. */
  strict: z.boolean().default(false),
  /** Output longer than this (UTF-16 code units) is truncated and flagged; strict mode halves it. */
  maxChars: z.number().int().positive().default(8_000),
});
/** What callers may pass to `filterModelOutput()`. */
export type OutputFilterOptionsInput = z.input<typeof OutputFilterOptions>;
/** Validated output-filter options. */
export type OutputFilterOptions = z.output<typeof OutputFilterOptions>;

/**
 * Parses options once; callers on hot paths should keep the result.
 * @throws EosError `EOS_INVALID_ARGUMENT` listing every invalid field.
 */
export function parseOptions<S extends z.ZodType>(schema: S, raw: unknown, what: string): z.output<S> {
  const result = schema.safeParse(raw ?? {});
  if (!result.success) {
    throw new EosError('EOS_INVALID_ARGUMENT', `invalid ${what} options:\n${z.prettifyError(result.error)}`, { cause: result.error });
  }
  return Object.freeze(result.data) as z.output<S>;
}
