import { decodeLayers } from './decode-layers.js';
import type { EncodingKind } from './decode-layers.js';
import { foldForDetection } from './fold-for-detection.js';
import { INJECTION_CATEGORIES, INJECTION_RULES } from './injection-rules.js';
import type { InjectionCategory } from './injection-rules.js';
import { normalizeText } from './normalize-text.js';
import { PhraseMatcher, tokenize } from './phrase-matcher.js';
import type { Token } from './phrase-matcher.js';
import { scanMarkers } from './scan-markers.js';
import { WordSegmenter } from './word-segmenter.js';

/** How the input tried to hide from plain matching; reported only when it hid a finding. */
export type ObfuscationKind = EncodingKind | 'homoglyph' | 'invisible' | 'leetspeak' | 'spaced';

/** What {@link detectInjection} found. */
export interface InjectionFindings {
  /** 0..1, combined evidence: 1 - prod(1 - weight) over the distinct rules that matched. */
  readonly score: number;
  /** Categories of every rule that matched, in {@link INJECTION_CATEGORIES} order. */
  readonly categories: InjectionCategory[];
  /** Ids of the rules that matched, sorted; stable, suitable as a metrics label. */
  readonly rules: string[];
  /** Obfuscations that were needed to reveal at least one finding. */
  readonly obfuscation: ObfuscationKind[];
}

const matcher = new PhraseMatcher(INJECTION_RULES);
const segmenter = new WordSegmenter([
  ...matcher.vocabulary(),
  'instructions', 'instruction', 'prompt', 'system', 'previous', 'all', 'the', 'your', 'you', 'me', 'my', 'and',
  'now', 'are', 'is', 'a', 'an', 'to', 'of', 'in', 'say', 'reveal', 'tell', 'rules', 'mode', 'developer',
]);

const LEET: Readonly<Record<string, string>> = { '0': 'o', '1': 'i', '3': 'e', '4': 'a', '5': 's', '7': 't', '8': 'b', '@': 'a', $: 's', '!': 'i', '|': 'i' };
const LEET_TOKEN_RE = /[\p{L}\p{N}@$!|]+/gu;
const HAS_LETTER_RE = /\p{L}/u;
const MIN_SPACED_LETTERS = 4;

interface Collected {
  readonly rules: Map<string, { category: InjectionCategory; weight: number }>;
  readonly obfuscation: Set<ObfuscationKind>;
}

/**
 * Looks for prompt-injection evidence in the whole of `normalized` (output of `normalizeText`):
 * phrase rules over the folded text, over a de-leeted and a de-spaced view, markup scans, and the
 * same analysis, recursively up to `maxDecodeDepth`, over base64/hex/percent-encoded layers and
 * Unicode-tag smuggled text. Every stage is linear in its input, and each decoded layer is
 * shorter than the text it came from, so the total is O(n x (depth + 1)).
 */
export function detectInjection(
  normalized: string,
  opts: { readonly maxDecodeDepth: number; readonly invisibleRemoved?: number; readonly smuggledTagText?: string },
): InjectionFindings {
  const collected: Collected = { rules: new Map(), obfuscation: new Set() };
  analyse(normalized, opts.maxDecodeDepth, collected, undefined);
  if (opts.smuggledTagText !== undefined && opts.smuggledTagText.length > 0) {
    const hidden = normalizeText(opts.smuggledTagText);
    analyse(hidden.text, opts.maxDecodeDepth, collected, 'unicode_tags');
  }
  if ((opts.invisibleRemoved ?? 0) > 0 && collected.rules.size > 0) {
    collected.obfuscation.add('invisible');
  }
  let remaining = 1;
  const categories = new Set<InjectionCategory>();
  for (const { category, weight } of collected.rules.values()) {
    remaining *= 1 - weight;
    categories.add(category);
  }
  return {
    score: Math.round((1 - remaining) * 1000) / 1000,
    categories: INJECTION_CATEGORIES.filter((c) => categories.has(c)),
    rules: [...collected.rules.keys()].sort(),
    obfuscation: [...collected.obfuscation].sort(),
  };
}

function analyse(text: string, depth: number, out: Collected, via: ObfuscationKind | undefined): void {
  const folded = foldForDetection(text);
  const before = out.rules.size;
  record(matcher.match(tokenize(folded.text)), out, via);
  for (const hit of scanMarkers(folded.text.toLowerCase())) {
    add(out, hit.id, hit.category, hit.weight, via);
  }
  if (folded.confusablesFolded > 0 && out.rules.size > before) {
    out.obfuscation.add('homoglyph');
  }
  const leet = leetView(folded.text);
  if (leet !== undefined) {
    record(matcher.match(leet), out, via ?? 'leetspeak');
  }
  const spaced = spacedView(folded.text);
  if (spaced !== undefined) {
    record(matcher.match(tokenize(spaced)), out, via ?? 'spaced');
  }
  if (depth > 0) {
    for (const layer of decodeLayers(text)) {
      analyse(normalizeText(layer.text).text, depth - 1, out, via ?? layer.kind);
    }
  }
}

function record(hits: Set<number>, out: Collected, via: ObfuscationKind | undefined): void {
  for (const index of hits) {
    const rule = matcher.rule(index);
    add(out, rule.id, rule.category, rule.weight, via);
  }
}

function add(out: Collected, id: string, category: InjectionCategory, weight: number, via: ObfuscationKind | undefined): void {
  if (!out.rules.has(id)) {
    out.rules.set(id, { category, weight });
    if (via !== undefined) {
      out.obfuscation.add(via);
    }
  }
}

/** Tokens that mix letters with leet digits/symbols, decoded; undefined when there are none. */
function leetView(text: string): Token[] | undefined {
  const tokens: Token[] = [];
  let changed = false;
  for (const m of text.matchAll(LEET_TOKEN_RE)) {
    const raw = m[0];
    let decoded = raw;
    if (HAS_LETTER_RE.test(raw) && raw.length <= 40) {
      let mapped = '';
      for (const ch of raw) {
        mapped += LEET[ch] ?? ch;
      }
      if (mapped !== raw) {
        changed = true;
        decoded = mapped;
      }
    }
    for (const part of tokenize(decoded)) {
      tokens.push(part);
    }
  }
  return changed ? tokens : undefined;
}

/**
 * Re-joins letters written one at a time (`i g n o r e`, `I-G-N-O-R-E`, `i.g.n.o.r.e`) and splits
 * the result into known words; undefined when the text has no such run.
 */
function spacedView(text: string): string | undefined {
  const parts: string[] = [];
  let run = '';
  let found = false;
  let last = 0;
  let i = 0;
  let runStart = -1;
  const flush = (end: number): void => {
    if (run.length >= MIN_SPACED_LETTERS) {
      parts.push(text.slice(last, runStart), ` ${segmenter.segment(run.toLowerCase())} `);
      last = end;
      found = true;
    }
    run = '';
    runStart = -1;
  };
  while (i < text.length) {
    const c = text.charCodeAt(i);
    const isLetter = (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a;
    const nextIsLetter = i + 1 < text.length && ((text.charCodeAt(i + 1) | 0x20) >= 0x61 && (text.charCodeAt(i + 1) | 0x20) <= 0x7a);
    if (isLetter && !nextIsLetter) {
      const prev = i > 0 ? text.charCodeAt(i - 1) | 0x20 : 0;
      const isSingle = !(prev >= 0x61 && prev <= 0x7a);
      if (isSingle) {
        if (run.length === 0) {
          runStart = i;
        }
        run += text[i];
        i += 1;
        let sep = 0;
        while (i < text.length && sep < 4 && isSeparator(text.charCodeAt(i))) {
          i += 1;
          sep += 1;
        }
        if (sep === 0 || sep === 4) {
          flush(i);
        }
        continue;
      }
    }
    if (isLetter || !isSeparator(c)) {
      flush(i);
    }
    i += 1;
  }
  flush(text.length);
  if (!found) {
    return undefined;
  }
  parts.push(text.slice(last));
  return parts.join('');
}

function isSeparator(c: number): boolean {
  return c === 0x20 || c === 0x2e || c === 0x2d || c === 0x5f || c === 0x2a || c === 0x2c;
}
