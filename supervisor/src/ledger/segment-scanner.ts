import { hash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const CHUNK_BYTES = 8 * 1024 * 1024;

/** Where a scan of one segment stopped. */
export interface SegmentScanEnd {
  /** Byte offset just past the last complete (newline-terminated) line that was accepted. */
  readonly goodEnd: number;
  /** Bytes after `goodEnd` that were not accepted (a partial line, or lines after a rejected one). */
  readonly trailingBytes: number;
  /** Why the scan stopped early, when the callback rejected a line. */
  readonly rejected?: string;
}

/**
 * Called per complete line with its text, RFC 6962 leaf hash and byte range. Returns null to go
 * on, or a reason to stop.
 */
export type LineVisitor = (text: string, leaf: Buffer, start: number, end: number) => string | null;

/**
 * Streams the newline-terminated lines of `path` from `fromOffset`, hashing each as
 * SHA-256(0x00 || line) without copying it: the byte before a line (its predecessor's newline or a
 * pad byte) is overwritten with 0x00 for the hash and restored. Stops at `toOffset` when given.
 */
export function scanSegment(path: string, fromOffset: number, visit: LineVisitor, toOffset = Number.POSITIVE_INFINITY): SegmentScanEnd {
  const fd = openSync(path, 'r');
  try {
    let buf = Buffer.allocUnsafe(CHUNK_BYTES + 1);
    let filled = 1;
    let fileOff = fromOffset;
    let bufBase = fromOffset - 1;
    let goodEnd = fromOffset;
    let eof = false;
    while (!eof) {
      if (filled === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, filled);
        buf = bigger;
      }
      const want = Math.min(buf.length - filled, toOffset - fileOff);
      const n = want > 0 ? readSync(fd, buf, filled, want, fileOff) : 0;
      if (n === 0) {
        eof = true;
        break;
      }
      fileOff += n;
      filled += n;
      let lineStart = goodEnd - bufBase;
      for (;;) {
        const nl = buf.indexOf(10, lineStart);
        if (nl < 0 || nl >= filled) {
          break;
        }
        const saved = buf[lineStart - 1] as number;
        buf[lineStart - 1] = 0;
        const leaf = hash('sha256', buf.subarray(lineStart - 1, nl), 'buffer') as unknown as Buffer;
        buf[lineStart - 1] = saved;
        const text = buf.toString('utf8', lineStart, nl);
        const reason = visit(text, leaf, bufBase + lineStart, bufBase + nl + 1);
        if (reason !== null) {
          return { goodEnd, trailingBytes: Math.min(endOf(fd), toOffset) - goodEnd, rejected: reason };
        }
        lineStart = nl + 1;
        goodEnd = bufBase + lineStart;
      }
      const keepFrom = lineStart - 1;
      buf.copy(buf, 0, keepFrom, filled);
      filled -= keepFrom;
      bufBase += keepFrom;
    }
    return { goodEnd, trailingBytes: fileOff - goodEnd };
  } finally {
    closeSync(fd);
  }
}

function endOf(fd: number): number {
  return fstatSync(fd).size;
}
