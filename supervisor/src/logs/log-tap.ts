import { Writable } from 'node:stream';

/** Log lines kept for `eosd logs` (the journal keeps the full history under systemd). */
export const LOG_TAP_CAPACITY = 5_000;

/**
 * A pino destination beside stdout: keeps the most recent lines in a ring buffer and hands new
 * ones to followers, so `eosd logs` can read a running daemon's logs over the control socket.
 */
export class LogTap extends Writable {
  readonly #ring: string[] = [];
  readonly #capacity: number;
  #next = 0;
  readonly #followers = new Set<(line: string) => void>();
  #partial = '';

  constructor(capacity = LOG_TAP_CAPACITY) {
    super({ decodeStrings: false });
    this.#capacity = capacity;
  }

  override _write(chunk: Buffer | string, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const text = this.#partial + (typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
    const lines = text.split('\n');
    this.#partial = lines.pop() ?? '';
    for (const line of lines) {
      if (line !== '') {
        this.#push(line);
      }
    }
    cb();
  }

  /** Up to `n` most recent lines matching `filter`, oldest first. */
  recent(n: number, filter: (line: string) => boolean = () => true): string[] {
    const ordered = this.#ring.length < this.#capacity ? this.#ring : [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)];
    const out: string[] = [];
    for (let i = ordered.length - 1; i >= 0 && out.length < n; i--) {
      const line = ordered[i];
      if (line !== undefined && filter(line)) {
        out.push(line);
      }
    }
    return out.reverse();
  }

  /** Calls `fn` for every new line until the returned function is called. */
  follow(fn: (line: string) => void): () => void {
    this.#followers.add(fn);
    return () => this.#followers.delete(fn);
  }

  #push(line: string): void {
    if (this.#ring.length < this.#capacity) {
      this.#ring.push(line);
    } else {
      this.#ring[this.#next] = line;
      this.#next = (this.#next + 1) % this.#capacity;
    }
    for (const f of this.#followers) {
      f(line);
    }
  }
}

/** A filter for lines of one agent (matches the `agentId` field pino lines carry). */
export function agentLineFilter(agentId: string): (line: string) => boolean {
  if (agentId === '') {
    return () => true;
  }
  const needle = `"agentId":${JSON.stringify(agentId)}`;
  return (line) => line.includes(needle);
}
