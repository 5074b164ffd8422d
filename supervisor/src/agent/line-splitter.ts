import type { Readable } from 'node:stream';

/** Longest line kept from an agent's output, bytes; the rest of a longer line is dropped. */
export const MAX_LINE_BYTES = 64 * 1024;

/**
 * Calls `onLine` for every newline-terminated line of `stream` (and a last unterminated one at
 * the end). Splits on the newline byte before decoding, and never buffers more than
 * {@link MAX_LINE_BYTES}: an agent cannot grow the supervisor's memory by never ending a line.
 */
export function splitLines(stream: Readable, onLine: (line: string, truncated: boolean) => void): void {
  let parts: Buffer[] = [];
  let size = 0;
  let truncated = false;
  const emit = (): void => {
    onLine(Buffer.concat(parts).toString('utf8'), truncated);
    parts = [];
    size = 0;
    truncated = false;
  };
  stream.on('data', (chunk: Buffer) => {
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl === -1 ? chunk.length : nl;
      const room = MAX_LINE_BYTES - size;
      if (end - start > room) {
        truncated = true;
      }
      const take = Math.min(end - start, Math.max(0, room));
      if (take > 0) {
        parts.push(chunk.subarray(start, start + take));
        size += take;
      }
      if (nl === -1) {
        break;
      }
      emit();
      start = nl + 1;
    }
  });
  stream.on('end', () => {
    if (size > 0 || truncated) {
      emit();
    }
  });
}
