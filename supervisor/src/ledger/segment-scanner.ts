import { isUtf8 } from 'node:buffer';
import { hash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const CHUNK_BYTES = 8 * 1024 * 1024;

/**
 * A read buffer handed from one scan to the next: a fresh 8 MiB buffer per scan costs a page fault
 * on every first touch of its pages (a verify scans one chunk per 4 MiB). The holder's owner
 * decides how long the memory stays; a scan takes the buffer while it runs and puts it back.
 */
export interface ScanBuffer {
  buf?: Buffer;
}

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
 * Called per complete line: the line is `buf[start, end)` (no newline; valid only during the
 * call), `leaf` its RFC 6962 leaf hash as a 32-character latin1 string (cheaper than a Buffer), `fileStart`/`fileEnd` its byte range in the file
 * including the newline. Returns null to go on, or a reason to stop.
 */
export type LineVisitor = (
  buf: Buffer,
  start: number,
  end: number,
  leaf: string,
  fileStart: number,
  fileEnd: number,
  utf8Valid: boolean,
) => string | null;

/**
 * Streams the newline-terminated lines of `path` from `fromOffset`, hashing each as
 * SHA-256(0x00 || line) without copying it: the byte before a line (its predecessor's newline or a
 * pad byte) is overwritten with 0x00 for the hash and restored. Stops at `toOffset` when given.
 * Pass `scratch` to reuse one read buffer across many scans.
 */
export function scanSegment(
  path: string,
  fromOffset: number,
  visit: LineVisitor,
  toOffset = Number.POSITIVE_INFINITY,
  scratch?: ScanBuffer,
): SegmentScanEnd {
  const fd = openSync(path, 'r');
  let buf = scratch?.buf ?? Buffer.allocUnsafe(CHUNK_BYTES + 1);
  if (scratch !== undefined) {
    scratch.buf = undefined;
  }
  try {
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
      // A newline never occurs inside a UTF-8 sequence, so the complete lines of this read can be
      // validated at once; when that fails each line is checked on its own.
      const lastNl = buf.lastIndexOf(10, filled - 1);
      const utf8Valid = lastNl >= lineStart && isUtf8(buf.subarray(lineStart, lastNl));
      for (;;) {
        const nl = buf.indexOf(10, lineStart);
        if (nl < 0 || nl >= filled) {
          break;
        }
        const saved = buf[lineStart - 1] as number;
        buf[lineStart - 1] = 0;
        // A plain view is cheaper to make than a Buffer subarray, and hashes the same bytes.
        const leaf = hash('sha256', new Uint8Array(buf.buffer, buf.byteOffset + lineStart - 1, nl - lineStart + 1), 'binary');
        buf[lineStart - 1] = saved;
        const reason = visit(buf, lineStart, nl, leaf, bufBase + lineStart, bufBase + nl + 1, utf8Valid);
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
    if (scratch !== undefined && buf.length === CHUNK_BYTES + 1) {
      scratch.buf = buf;
    }
  }
}

function endOf(fd: number): number {
  return fstatSync(fd).size;
}
