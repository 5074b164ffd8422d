interface TrieNode {
  readonly next: Map<string, TrieNode>;
  terminal: boolean;
}

const MAX_WORD_CHARS = 32;
const UNKNOWN_CHAR_COST = 1;
const WORD_COST = 0.1; // prefers fewer, longer words among segmentations with equal unknown letters

/**
 * Splits a run of letters with no spaces (`revealyoursystemprompt`) into words from a fixed
 * vocabulary, minimising the letters left unrecognised (dynamic programming over end positions).
 * Each position tries at most {@link MAX_WORD_CHARS} trie steps, so the cost is linear in the run.
 * Stems (`instruc*`) are inserted as words; what follows them stays as unknown letters.
 */
export class WordSegmenter {
  readonly #root: TrieNode = { next: new Map(), terminal: false };

  constructor(words: readonly string[]) {
    for (const raw of words) {
      const word = raw.endsWith('*') ? raw.slice(0, -1) : raw;
      if (word.length === 0 || word.length > MAX_WORD_CHARS || !/^[a-z]+$/.test(word)) {
        continue;
      }
      let node = this.#root;
      for (const ch of word) {
        let child = node.next.get(ch);
        if (child === undefined) {
          child = { next: new Map(), terminal: false };
          node.next.set(ch, child);
        }
        node = child;
      }
      node.terminal = true;
    }
  }

  /** Returns `letters` (lower-case a-z) with spaces between the recognised words. */
  segment(letters: string): string {
    const n = letters.length;
    const cost = new Float64Array(n + 1).fill(Number.POSITIVE_INFINITY);
    const from = new Int32Array(n + 1);
    const isWord = new Uint8Array(n + 1);
    cost[0] = 0;
    for (let i = 0; i < n; i += 1) {
      const here = cost[i] ?? 0;
      if (here + UNKNOWN_CHAR_COST < (cost[i + 1] ?? 0)) {
        cost[i + 1] = here + UNKNOWN_CHAR_COST;
        from[i + 1] = i;
        isWord[i + 1] = 0;
      }
      let node: TrieNode | undefined = this.#root;
      for (let j = i; j < n && j - i < MAX_WORD_CHARS; j += 1) {
        node = node.next.get(letters[j] ?? '');
        if (node === undefined) {
          break;
        }
        if (node.terminal && here + WORD_COST < (cost[j + 1] ?? 0)) {
          cost[j + 1] = here + WORD_COST;
          from[j + 1] = i;
          isWord[j + 1] = 1;
        }
      }
    }
    const pieces: string[] = [];
    let end = n;
    let pendingUnknownEnd = -1;
    while (end > 0) {
      const start = from[end] ?? 0;
      if (isWord[end] === 1) {
        if (pendingUnknownEnd >= 0) {
          pieces.push(letters.slice(end, pendingUnknownEnd));
          pendingUnknownEnd = -1;
        }
        pieces.push(letters.slice(start, end));
      } else if (pendingUnknownEnd < 0) {
        pendingUnknownEnd = end;
      }
      end = start;
    }
    if (pendingUnknownEnd >= 0) {
      pieces.push(letters.slice(0, pendingUnknownEnd));
    }
    return pieces.reverse().join(' ');
  }
}
