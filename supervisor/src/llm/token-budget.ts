/** Calls and tokens of one agent in a sliding one-minute window, O(1) amortised per call. */
export class TokenBudget {
  readonly #windowMs: number;
  readonly #now: () => number;
  #calls: number[] = [];
  #tokens: { at: number; n: number }[] = [];
  #tokenSum = 0;

  constructor(now: () => number, windowMs = 60_000) {
    this.#now = now;
    this.#windowMs = windowMs;
  }

  #expire(): void {
    const cutoff = this.#now() - this.#windowMs;
    let i = 0;
    while (i < this.#calls.length && (this.#calls[i] ?? 0) <= cutoff) {
      i++;
    }
    if (i > 0) {
      this.#calls = this.#calls.slice(i);
    }
    let j = 0;
    while (j < this.#tokens.length && (this.#tokens[j]?.at ?? 0) <= cutoff) {
      this.#tokenSum -= this.#tokens[j]?.n ?? 0;
      j++;
    }
    if (j > 0) {
      this.#tokens = this.#tokens.slice(j);
    }
  }

  /** Calls and tokens used in the last window. */
  usage(): { calls: number; tokens: number } {
    this.#expire();
    return { calls: this.#calls.length, tokens: this.#tokenSum };
  }

  recordCall(): void {
    this.#calls.push(this.#now());
  }

  recordTokens(n: number): void {
    if (n > 0) {
      this.#tokens.push({ at: this.#now(), n });
      this.#tokenSum += n;
    }
  }
}
