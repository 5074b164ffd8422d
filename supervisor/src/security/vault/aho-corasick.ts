/**
 * A byte-level Aho–Corasick automaton: finds every occurrence of a fixed set of byte patterns in
 * one pass, O(text + matches). Transitions are sparse (a Map per node) so memory grows with the
 * total pattern length, not with 256 × states.
 */
export class AhoCorasick {
  readonly #children: Map<number, number>[] = [new Map()];
  readonly #fail: number[] = [0];
  /** Index of the longest pattern ending at this node (itself or via dictionary links), or -1. */
  readonly #out: number[] = [-1];
  /** Next node on the failure chain that ends a pattern, or -1. */
  readonly #dict: number[] = [-1];
  readonly #lengths: number[] = [];

  constructor(patterns: readonly Uint8Array[]) {
    patterns.forEach((p, index) => {
      if (p.length === 0) {
        throw new TypeError('empty pattern');
      }
      let node = 0;
      for (const byte of p) {
        const children = this.#children[node] as Map<number, number>;
        let next = children.get(byte);
        if (next === undefined) {
          next = this.#children.length;
          this.#children.push(new Map());
          this.#fail.push(0);
          this.#out.push(-1);
          this.#dict.push(-1);
          children.set(byte, next);
        }
        node = next;
      }
      if (this.#out[node] === -1) {
        this.#out[node] = index;
      }
      this.#lengths.push(p.length);
    });
    this.#link();
  }

  #link(): void {
    const queue: number[] = [];
    for (const child of (this.#children[0] as Map<number, number>).values()) {
      queue.push(child);
    }
    for (let qi = 0; qi < queue.length; qi++) {
      const node = queue[qi] as number;
      for (const [byte, child] of this.#children[node] as Map<number, number>) {
        queue.push(child);
        let f = this.#fail[node] as number;
        while (f !== 0 && !(this.#children[f] as Map<number, number>).has(byte)) {
          f = this.#fail[f] as number;
        }
        const target = (this.#children[f] as Map<number, number>).get(byte);
        const fail = target === undefined || target === child ? 0 : target;
        this.#fail[child] = fail;
        this.#dict[child] = (this.#out[fail] as number) !== -1 ? fail : (this.#dict[fail] as number);
      }
    }
  }

  /** Number of automaton states. */
  get stateCount(): number {
    return this.#children.length;
  }

  /**
   * Scan `text`; for every end position call `onMatch(patternIndex, endExclusive)` for each
   * pattern ending there, longest first. Return `false` from the callback to skip the shorter ones.
   */
  scan(text: Uint8Array, onMatch: (pattern: number, end: number) => boolean): void {
    let node = 0;
    for (let i = 0; i < text.length; i++) {
      const byte = text[i] as number;
      let next = (this.#children[node] as Map<number, number>).get(byte);
      while (next === undefined && node !== 0) {
        node = this.#fail[node] as number;
        next = (this.#children[node] as Map<number, number>).get(byte);
      }
      node = next ?? 0;
      let m = (this.#out[node] as number) !== -1 ? node : (this.#dict[node] as number);
      while (m !== -1) {
        if (!onMatch(this.#out[m] as number, i + 1)) {
          break;
        }
        m = this.#dict[m] as number;
      }
    }
  }

  /** Length in bytes of pattern `index`. */
  patternLength(index: number): number {
    return this.#lengths[index] as number;
  }
}
