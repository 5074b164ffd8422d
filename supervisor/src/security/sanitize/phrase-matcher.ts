/** One word of the detection view, lower-cased, with the context flags rules may require. */
export interface Token {
  readonly word: string;
  /** The next non-space character is `:`. */
  readonly colon: boolean;
  /** The word was written in capitals (two letters or more). */
  readonly upper: boolean;
  /** The word ends an identifier containing `_` that is immediately followed by `(`. */
  readonly call: boolean;
}

/**
 * A rule is a sequence of slots; slot k+1 must match within `gaps[k]` tokens after slot k.
 * A slot entry is a word, a `prefix*`, `word:` (followed by a colon), `WORD^` (written in
 * capitals) or `#call` (a tool-call-shaped identifier).
 */
export interface PhraseRule<C extends string> {
  readonly id: string;
  readonly category: C;
  /** Evidence strength in (0, 1]; see `combineWeights`. */
  readonly weight: number;
  readonly slots: readonly (readonly string[])[];
  /** Maximum number of tokens between consecutive slots; length = slots.length - 1. */
  readonly gaps: readonly number[];
}

interface SlotRef {
  readonly rule: number;
  readonly slot: number;
  readonly colon: boolean;
  readonly upper: boolean;
}

const TOKEN_RE = /[\p{L}\p{N}]+/gu;
const LETTER_RE = /\p{L}/u;

/**
 * Splits detection text into tokens. The only regex is a single character class with `+` and the
 * `g` flag, which the engine scans in one pass (no backtracking into earlier matches).
 */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  for (const m of text.matchAll(TOKEN_RE)) {
    const raw = m[0];
    const start = m.index;
    const end = start + raw.length;
    let next = end;
    while (next < text.length && next < end + 2 && text.charCodeAt(next) === 0x20) {
      next += 1;
    }
    const lower = raw.toLowerCase();
    tokens.push({
      word: lower,
      colon: text.charCodeAt(next) === 0x3a,
      upper: raw.length > 1 && lower !== raw && raw.toUpperCase() === raw && LETTER_RE.test(raw),
      call: text.charCodeAt(end) === 0x28 && isUnderscoreIdentifierEnd(text, start),
    });
  }
  return tokens;
}

function isUnderscoreIdentifierEnd(text: string, tokenStart: number): boolean {
  let i = tokenStart - 1;
  const floor = Math.max(0, tokenStart - 64);
  while (i >= floor) {
    const c = text.charCodeAt(i);
    if (c === 0x5f) {
      return true;
    }
    const isAlnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
    if (!isAlnum) {
      return false;
    }
    i -= 1;
  }
  return false;
}

/**
 * Matches a fixed set of {@link PhraseRule}s against token sequences in one left-to-right pass:
 * per rule it remembers only the latest token that completed each slot prefix, which is optimal
 * for "within N tokens" constraints. Cost is O(tokens x candidate slots per token), i.e. linear,
 * whatever the input.
 */
export class PhraseMatcher<C extends string> {
  readonly #rules: readonly PhraseRule<C>[];
  readonly #exact = new Map<string, SlotRef[]>();
  readonly #prefix = new Map<string, SlotRef[]>();
  readonly #prefixLengths: number[];
  readonly #callRefs: SlotRef[] = [];
  readonly #slotBase: number[] = [];
  readonly #slotCount: number;
  readonly #cache = new Map<string, readonly SlotRef[]>();

  constructor(rules: readonly PhraseRule<C>[]) {
    this.#rules = rules;
    let base = 0;
    const lengths = new Set<number>();
    rules.forEach((rule, r) => {
      if (rule.gaps.length !== rule.slots.length - 1) {
        throw new TypeError(`rule ${rule.id}: gaps must have slots.length - 1 entries`);
      }
      this.#slotBase.push(base);
      base += rule.slots.length;
      rule.slots.forEach((entries, s) => {
        for (const entry of entries) {
          this.#addEntry(entry, r, s, lengths);
        }
      });
    });
    this.#slotCount = base;
    this.#prefixLengths = [...lengths].sort((a, b) => a - b);
  }

  #addEntry(entry: string, rule: number, slot: number, lengths: Set<number>): void {
    if (entry === '#call') {
      this.#callRefs.push({ rule, slot, colon: false, upper: false });
      return;
    }
    let word = entry;
    const colon = word.endsWith(':');
    if (colon) {
      word = word.slice(0, -1);
    }
    const upper = word.endsWith('^');
    if (upper) {
      word = word.slice(0, -1);
    }
    const ref: SlotRef = { rule, slot, colon, upper };
    if (word.endsWith('*')) {
      const stem = word.slice(0, -1);
      lengths.add(stem.length);
      push(this.#prefix, stem, ref);
    } else {
      push(this.#exact, word, ref);
    }
  }

  #candidates(word: string): readonly SlotRef[] {
    const cached = this.#cache.get(word);
    if (cached !== undefined) {
      return cached;
    }
    const refs: SlotRef[] = [...(this.#exact.get(word) ?? [])];
    for (const len of this.#prefixLengths) {
      if (len > word.length) {
        break;
      }
      const hit = this.#prefix.get(word.slice(0, len));
      if (hit !== undefined) {
        refs.push(...hit);
      }
    }
    // Within a rule, later slots first, so one token never satisfies two consecutive slots.
    refs.sort((a, b) => a.rule - b.rule || b.slot - a.slot);
    if (word.length <= 40) {
      this.#cache.set(word, refs);
    }
    return refs;
  }

  /** Returns the indexes of the rules matched anywhere in `tokens`. */
  match(tokens: readonly Token[]): Set<number> {
    const lastEnd = new Int32Array(this.#slotCount).fill(-1);
    const hits = new Set<number>();
    for (let i = 0; i < tokens.length; i += 1) {
      const token = tokens[i];
      if (token === undefined) {
        continue;
      }
      const refs = token.call ? [...this.#candidates(token.word), ...this.#callRefs] : this.#candidates(token.word);
      for (const ref of refs) {
        if ((ref.colon && !token.colon) || (ref.upper && !token.upper)) {
          continue;
        }
        const rule = this.#rules[ref.rule];
        const base = this.#slotBase[ref.rule];
        if (rule === undefined || base === undefined) {
          continue;
        }
        if (ref.slot > 0) {
          const prev = lastEnd[base + ref.slot - 1] ?? -1;
          const gap = rule.gaps[ref.slot - 1] ?? 0;
          if (prev < 0 || prev >= i || i - prev - 1 > gap) {
            continue;
          }
        }
        lastEnd[base + ref.slot] = i;
        if (ref.slot === rule.slots.length - 1) {
          hits.add(ref.rule);
        }
      }
    }
    return hits;
  }

  /** The rule at `index`, as passed to the constructor. */
  rule(index: number): PhraseRule<C> {
    const rule = this.#rules[index];
    if (rule === undefined) {
      throw new RangeError(`no rule ${index}`);
    }
    return rule;
  }

  /** Every exact word and stem the rules use; feeds the de-spacing segmenter. */
  vocabulary(): string[] {
    return [...this.#exact.keys(), ...this.#prefix.keys()];
  }
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) {
    map.set(key, [value]);
  } else {
    list.push(value);
  }
}
