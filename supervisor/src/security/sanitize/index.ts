/**
 * @module security/sanitize
 *
 * Input sanitization, prompt-injection detection, PII scrubbing and the model-output filter. All
 * functions are pure and run in time linear in their input (no backtracking regex).
 *
 * ```ts
 * import { sanitize, filterModelOutput } from './security/sanitize/index.js';
 * const r = sanitize(untrusted);           // { sanitized, injectionDetected, categories, … }
 * const out = filterModelOutput(reply, { strict: tier === 'HIGH' });
 * ```
 * @experimental
 */
export { sanitize, neutralizeDelimiters } from './sanitize.js';
export type { SanitizeResult } from './sanitize.js';
export { scrubPii } from './scrub-pii.js';
export type { PiiCategory, PiiScrubResult } from './scrub-pii.js';
export { filterModelOutput, BLOCKED_OUTPUT_TEXT } from './filter-model-output.js';
export type { OutputFilterResult } from './filter-model-output.js';
export { INJECTION_CATEGORIES } from './injection-rules.js';
export type { InjectionCategory } from './injection-rules.js';
export type { ObfuscationKind } from './detect-injection.js';
export type { EncodingKind } from './decode-layers.js';
export { SanitizeOptions, OutputFilterOptions } from './sanitize-options.js';
export type { SanitizeOptionsInput, OutputFilterOptionsInput } from './sanitize-options.js';
