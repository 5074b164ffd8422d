/** A token bucket refilled lazily from a clock: O(1) per take, no timers. */
export class TokenBucket {
  readonly #ratePerMs: number;
  readonly #burst: number;
  readonly #now: () => number;
  #tokens: number;
  #last: number;

  constructor(eventsPerSec: number, burst: number, now: () => number) {
    this.#ratePerMs = eventsPerSec / 1000;
    this.#burst = burst;
    this.#now = now;
    this.#tokens = burst;
    this.#last = now();
  }

  /** Takes `n` tokens if available. */
  take(n = 1): boolean {
    const t = this.#now();
    if (t > this.#last) {
      this.#tokens = Math.min(this.#burst, this.#tokens + (t - this.#last) * this.#ratePerMs);
      this.#last = t;
    }
    if (this.#tokens >= n) {
      this.#tokens -= n;
      return true;
    }
    return false;
  }

  /** Returns tokens taken by a call that was refused later in the pipeline. */
  refund(n = 1): void {
    this.#tokens = Math.min(this.#burst, this.#tokens + n);
  }
}
