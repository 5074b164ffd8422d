import type { BusEvent } from './bus-event.js';

/**
 * A bounded queue with four priority levels (3 = critical … 0 = low), FIFO within a level.
 * When full, the lowest-priority, oldest event makes room for a more important one; an event no
 * more important than everything queued is refused. Both cases return the event that lost.
 */
export class SubscriberQueue {
  readonly #levels: BusEvent[][] = [[], [], [], []];
  readonly #heads = [0, 0, 0, 0];
  readonly #capacity: number;
  #size = 0;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#size;
  }

  /** Enqueues `e`; returns the event dropped to respect the capacity, if any. */
  push(e: BusEvent): BusEvent | undefined {
    let dropped: BusEvent | undefined;
    if (this.#size >= this.#capacity) {
      const lowest = this.#lowestNonEmpty();
      if (lowest === -1 || lowest >= e.priority) {
        return e;
      }
      dropped = this.#shift(lowest);
    }
    this.#levels[e.priority]?.push(e);
    this.#size++;
    return dropped;
  }

  /** Removes up to `max` events, highest priority first. */
  take(max: number): BusEvent[] {
    const out: BusEvent[] = [];
    for (let p = 3; p >= 0 && out.length < max; p--) {
      while (out.length < max) {
        const e = this.#shift(p);
        if (e === undefined) {
          break;
        }
        out.push(e);
      }
    }
    return out;
  }

  /** Removes everything (for dead-lettering when the subscriber goes away). */
  drain(): BusEvent[] {
    return this.take(this.#size);
  }

  #lowestNonEmpty(): number {
    for (let p = 0; p <= 3; p++) {
      const level = this.#levels[p];
      if (level !== undefined && level.length > (this.#heads[p] ?? 0)) {
        return p;
      }
    }
    return -1;
  }

  #shift(p: number): BusEvent | undefined {
    const level = this.#levels[p];
    const head = this.#heads[p] ?? 0;
    if (level === undefined || head >= level.length) {
      return undefined;
    }
    const e = level[head];
    level[head] = undefined as unknown as BusEvent;
    if (head + 1 === level.length) {
      level.length = 0;
      this.#heads[p] = 0;
    } else if (head + 1 > 4096 && (head + 1) * 2 > level.length) {
      this.#levels[p] = level.slice(head + 1);
      this.#heads[p] = 0;
    } else {
      this.#heads[p] = head + 1;
    }
    this.#size--;
    return e;
  }
}
