/** What {@link LineAssembler.push} produced from one chunk. */
export interface AssembledLines {
  /** Complete lines, without the newline byte; never longer than the line cap. */
  lines: Buffer[];
  /** Lines dropped because they were longer than the line cap. */
  oversized: number;
  /** Bytes thrown away while skipping to the next newline (oversized lines, buffer overflow). */
  skippedBytes: number;
}

const NEWLINE = 0x0a;

/**
 * Turns a byte stream into lines. It splits on the newline byte before anything is decoded, so a
 * multi-byte UTF-8 character split across two reads stays intact (the predecessor decoded each
 * chunk on its own and corrupted it). A partial line longer than `bufferCapBytes` is dropped and
 * everything up to the next newline is skipped; a complete line longer than `lineCapBytes` is
 * dropped and counted.
 */
export class LineAssembler {
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #skipping = false;
  readonly #lineCapBytes: number;
  readonly #bufferCapBytes: number;

  constructor(lineCapBytes: number, bufferCapBytes: number) {
    this.#lineCapBytes = lineCapBytes;
    this.#bufferCapBytes = Math.max(bufferCapBytes, lineCapBytes);
  }

  /** Forgets any partial line, e.g. after the file was rotated. */
  reset(): void {
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#skipping = false;
  }

  /** Bytes held for an incomplete line. */
  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  push(chunk: Buffer): AssembledLines {
    const out: AssembledLines = { lines: [], oversized: 0, skippedBytes: 0 };
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl === -1) {
        this.#hold(chunk.subarray(start), out);
        break;
      }
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      if (this.#skipping) {
        out.skippedBytes += piece.length + 1;
        this.#skipping = false;
        continue;
      }
      const length = this.#pendingBytes + piece.length;
      if (length > this.#lineCapBytes) {
        out.oversized++;
        out.skippedBytes += length + 1;
        this.#pending = [];
        this.#pendingBytes = 0;
        continue;
      }
      const line = this.#pending.length === 0 ? Buffer.from(piece) : Buffer.concat([...this.#pending, piece]);
      this.#pending = [];
      this.#pendingBytes = 0;
      out.lines.push(line);
    }
    return out;
  }

  #hold(rest: Buffer, out: AssembledLines): void {
    if (this.#skipping) {
      out.skippedBytes += rest.length;
      return;
    }
    if (this.#pendingBytes + rest.length > this.#bufferCapBytes) {
      out.skippedBytes += this.#pendingBytes + rest.length;
      out.oversized++;
      this.#pending = [];
      this.#pendingBytes = 0;
      this.#skipping = true;
      return;
    }
    this.#pending.push(Buffer.from(rest));
    this.#pendingBytes += rest.length;
  }
}
