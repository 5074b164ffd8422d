/**
 * Anti-replay for per-session call nonces, after the sliding window of RFC 4303 §3.4.3: nonces
 * strictly increase per session, so remembering the highest one and a bitmap of the `size`
 * below it rejects every replay in O(1) time and constant memory, however many calls arrive.
 * A nonce older than the window is rejected too (a reordering that large never happens on one
 * connection). The session key changes with every agent process, so a window never needs to
 * outlive its session.
 */
export class ReplayWindow {
  readonly #size: number;
  readonly #bits: Uint32Array;
  #highest = 0;

  /** @param size nonces remembered below the highest; a multiple of 32. */
  constructor(size = 65_536) {
    if (size <= 0 || size % 32 !== 0) {
      throw new RangeError('window size must be a positive multiple of 32');
    }
    this.#size = size;
    this.#bits = new Uint32Array(size / 32);
  }

  /** Records `nonce` and returns true, or returns false when it was seen or is too old. */
  accept(nonce: number): boolean {
    if (!Number.isSafeInteger(nonce) || nonce <= 0) {
      return false;
    }
    if (nonce > this.#highest) {
      const advance = nonce - this.#highest;
      if (advance >= this.#size) {
        this.#bits.fill(0);
      } else {
        for (let n = this.#highest + 1; n < nonce; n++) {
          this.#clear(n);
        }
      }
      this.#highest = nonce;
      this.#set(nonce);
      return true;
    }
    if (this.#highest - nonce >= this.#size) {
      return false;
    }
    if (this.#has(nonce)) {
      return false;
    }
    this.#set(nonce);
    return true;
  }

  #slot(n: number): [number, number] {
    const i = n % this.#size;
    return [i >>> 5, 1 << (i & 31)];
  }

  #has(n: number): boolean {
    const [w, m] = this.#slot(n);
    return ((this.#bits[w] ?? 0) & m) !== 0;
  }

  #set(n: number): void {
    const [w, m] = this.#slot(n);
    this.#bits[w] = (this.#bits[w] ?? 0) | m;
  }

  #clear(n: number): void {
    const [w, m] = this.#slot(n);
    this.#bits[w] = (this.#bits[w] ?? 0) & ~m;
  }
}
