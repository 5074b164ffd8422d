import { describe, expect, it } from 'vitest';
import { filterModelOutput, sanitize, scrubPii } from '../src/security/sanitize/index.js';
import { decodeLayers } from '../src/security/sanitize/decode-layers.js';
import { foldForDetection } from '../src/security/sanitize/fold-for-detection.js';
import { INJECTION_RULES } from '../src/security/sanitize/injection-rules.js';
import { normalizeText } from '../src/security/sanitize/normalize-text.js';
import { PhraseMatcher, tokenize } from '../src/security/sanitize/phrase-matcher.js';
import { scanMarkers } from '../src/security/sanitize/scan-markers.js';

const SMALL_CHARS = 100_000;
const LARGE_CHARS = 1_000_000;
/**
 * 10x the input costs ~10x in linear code and ~100x in quadratic code. Linear stages measure
 * 4-14x here (1 MB strings and token arrays leave V8's young generation, so GC cost grows a little
 * faster than the input); 50 leaves room for that and for a loaded CI machine, and still fails any
 * quadratic stage.
 */
const MAX_GROWTH_RATIO = 50;
/** Absolute ceiling for one stage on 1 MB, far above the ~0.1-0.7 s measured on a laptop-class CPU. */
const MAX_LARGE_MS = 8_000;
/** Below this the 100 KB timing is noise; the ratio is then taken against this floor. */
const TIMER_FLOOR_MS = 10;

/** Inputs shaped to make a naive or backtracking implementation of each stage go quadratic. */
const ADVERSARIAL: Readonly<Record<string, (n: number) => string>> = {
  'one letter': (n) => 'a'.repeat(n),
  'single letters (spaced-out view)': (n) => 'a '.repeat(n / 2),
  'dotted letters': (n) => 'i.'.repeat(n / 2),
  'override words without an object': (n) => 'ignore all previous '.repeat(n / 20),
  'base64 run': (n) => 'aWdub3JlIGFsbCBwcmV2aW91cyBpbnN0cnVjdGlvbnMg'.repeat(n / 44),
  'hex run': (n) => '69676e6f726520'.repeat(n / 14),
  'percent escapes': (n) => '%41'.repeat(n / 3),
  'unterminated special tokens': (n) => '<|'.repeat(n / 2),
  'long special token names': (n) => '<|aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'.repeat(n / 42),
  'tag openers': (n) => '</'.repeat(n / 2),
  'at signs': (n) => 'a@'.repeat(n / 2),
  'dotted digits': (n) => '1.'.repeat(n / 2),
  'digits': (n) => '1'.repeat(n),
  'spaced digits': (n) => '1 '.repeat(n / 2),
  'hex and colons': (n) => 'a:'.repeat(n / 2),
  'IBAN prefixes': (n) => 'DE89 '.repeat(n / 5),
  'underscore identifier': (n) => `${'a_'.repeat(n / 2)}(`,
  'image link openers': (n) => '](http'.repeat(n / 6),
  'role labels': (n) => 'system:\n'.repeat(n / 8),
  'leetspeak': (n) => '1gn0r3 '.repeat(n / 7),
  'zero-width': (n) => 'a\u200B'.repeat(n / 2),
  'homoglyphs': (n) => '\u0456gn\u043Er\u0435 '.repeat(n / 7),
  'token prefixes': (n) => 'sk-'.repeat(n / 3),
  'PEM headers': (n) => '-----BEGIN '.repeat(n / 11),
  'emails': (n) => 'x@example.com '.repeat(n / 14),
};

function timeMs(fn: () => unknown): number {
  const start = performance.now();
  fn();
  return performance.now() - start;
}

/**
 * Times 100 KB and 1 MB runs; a pair over the bound is measured once more, so a GC pause on a busy
 * machine does not fail the test while a real quadratic blow-up (consistently ~100x) still does.
 */
function measureGrowth(run: (size: 'small' | 'large') => unknown): { smallMs: number; largeMs: number } {
  run('small'); // warm-up
  const once = (): { smallMs: number; largeMs: number } => {
    const smallMs = Math.max(TIMER_FLOOR_MS, Math.min(timeMs(() => run('small')), timeMs(() => run('small'))));
    return { smallMs, largeMs: timeMs(() => run('large')) };
  };
  const first = once();
  if (first.largeMs / first.smallMs < MAX_GROWTH_RATIO && first.largeMs < MAX_LARGE_MS) {
    return first;
  }
  const second = once();
  return second.largeMs / second.smallMs < first.largeMs / first.smallMs ? second : first;
}

function assertLinear(stage: (s: string) => unknown): void {
  for (const [name, make] of Object.entries(ADVERSARIAL)) {
    const inputs = { small: make(SMALL_CHARS), large: make(LARGE_CHARS) };
    const { smallMs, largeMs } = measureGrowth((size) => stage(inputs[size]));
    expect.soft(largeMs, `${name}: 1 MB took ${largeMs.toFixed(0)} ms`).toBeLessThan(MAX_LARGE_MS);
    expect.soft(largeMs / smallMs, `${name}: 100 KB ${smallMs.toFixed(1)} ms vs 1 MB ${largeMs.toFixed(1)} ms`).toBeLessThan(MAX_GROWTH_RATIO);
  }
}

describe('sanitizer linear time (1 MB adversarial inputs)', { timeout: 180_000 }, () => {
  it('normalizeText', () => assertLinear((s) => normalizeText(s)));
  it('foldForDetection', () => assertLinear((s) => foldForDetection(s)));
  it('tokenize', () => assertLinear((s) => tokenize(s)));
  it('scanMarkers', () => assertLinear((s) => scanMarkers(s.toLowerCase())));
  it('decodeLayers', () => assertLinear((s) => decodeLayers(s)));
  it('scrubPii', () => assertLinear((s) => scrubPii(s)));
  it('sanitize (whole pipeline)', () => assertLinear((s) => sanitize(s)));
  it('filterModelOutput (strict)', () => assertLinear((s) => filterModelOutput(s, { strict: true })));

  it('every injection rule, fed its own words back to back', () => {
    for (const rule of INJECTION_RULES) {
      const matcher = new PhraseMatcher([rule]);
      // The worst case for a slot matcher: every token is a candidate for every slot.
      const words = rule.slots.map((slot) => (slot[0] ?? 'x').replace(/[*:^]$/g, '').replace('#call', 'a_b(')).join(' ');
      const make = (n: number): string => `${words} `.repeat(Math.ceil(n / (words.length + 1)));
      const tokens = { small: tokenize(make(SMALL_CHARS)), large: tokenize(make(LARGE_CHARS)) };
      const { smallMs, largeMs } = measureGrowth((size) => matcher.match(tokens[size]));
      expect.soft(largeMs / smallMs, `${rule.id}: ${smallMs.toFixed(1)} ms vs ${largeMs.toFixed(1)} ms`).toBeLessThan(MAX_GROWTH_RATIO);
    }
  });
});
