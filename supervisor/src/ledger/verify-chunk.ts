import { hexEquals, newRecordSpans, scanRecordSpans } from './canonical-scan.js';
import { isValidKind, NOT_CANONICAL, SYSTEM_KINDS } from './record-kinds.js';
import { nodeHashLatin1 } from './merkle.js';
import { scanSegment, type ScanBuffer } from './segment-scanner.js';

/** A subtree hash of a compact range: covers 2^level leaves; the digest as a latin1 string. */
export interface RangeNode {
  readonly level: number;
  readonly hash: string;
}

/** One newline-aligned byte range of a segment to verify. */
export interface ChunkTask {
  readonly path: string;
  readonly start: number;
  readonly end: number;
  /** Checkpoint sizes (ascending) whose roots the caller needs. */
  readonly cpSizes: readonly number[];
  /** Head size: report the leaf hash and end offset of record headSize - 1. */
  readonly headSize: number;
}

/** What a chunk holds, for the sequential merge. */
export interface ChunkResult {
  readonly count: number;
  readonly firstSeq: number;
  readonly firstPrev: string;
  readonly firstKind: string;
  readonly firstPayload: unknown;
  readonly lastLeaf: string;
  /** Compact range [firstSeq, firstSeq + count). */
  readonly range: RangeNode[];
  /** Compact ranges [firstSeq, size) for each checkpoint size inside the chunk. */
  readonly cpRanges: { size: number; nodes: RangeNode[] }[];
  readonly head?: { leaf: string; end: number };
  /** Bytes of the chunk after its last newline (only possible in a segment's last chunk). */
  readonly trailingBytes: number;
  readonly error?: { reason: string; offset: number; seq: number };
}

/**
 * Verifies one chunk on its own: canonical form and schema of every record, contiguous seqs and
 * hash links inside the chunk, no genesis or segment-start record after the first; builds the
 * compact Merkle range over its leaves. Runs in a worker thread or inline; `scratch` lets
 * successive chunks in one thread share a read buffer.
 */
export function verifyChunk(task: ChunkTask, scratch?: ScanBuffer): ChunkResult {
  let count = 0;
  let firstSeq = -1;
  let firstPrev = '';
  let firstKind = '';
  let firstPayload: unknown = null;
  let lastLeaf: string | undefined;
  // The compact range as a stack of subtree hashes and their levels (parallel arrays: no object per leaf).
  const stackHash: string[] = [];
  const stackLevel: number[] = [];
  const rangeNodes = (): RangeNode[] => stackHash.map((hash, i) => ({ level: stackLevel[i] as number, hash }));
  const cpRanges: { size: number; nodes: RangeNode[] }[] = [];
  let head: ChunkResult['head'];
  let cpAt = 0;
  let error: ChunkResult['error'];
  const sp = newRecordSpans();
  let kindBytes = Buffer.alloc(0);
  let kindValue = '';
  let kindValid = false;
  const end = scanSegment(
    task.path,
    task.start,
    (buf, start, stop, leaf, fileStart, fileEnd, utf8Valid) => {
      let reason: string | undefined;
      // Every prev is compared with a digest (in this chunk, or at the merge for the first line).
      if (!scanRecordSpans(buf, start, stop, sp, utf8Valid, true)) {
        reason = NOT_CANONICAL;
      } else {
        // Kinds repeat; decode one only when its bytes differ from the previous line's.
        const kLen = sp.kindEnd - sp.kindStart - 2;
        let same = kLen === kindBytes.length;
        for (let k = 0; same && k < kLen; k++) {
          same = buf[sp.kindStart + 1 + k] === kindBytes[k];
        }
        if (!same) {
          kindBytes = Buffer.from(buf.subarray(sp.kindStart + 1, sp.kindEnd - 1));
          kindValue = kindBytes.toString('latin1');
          kindValid = isValidKind(kindValue);
        }
        const kind = kindValue;
        if (!kindValid) {
          reason = 'record kind is malformed';
        } else if (count === 0) {
          firstSeq = sp.seq;
          firstPrev = buf.toString('latin1', sp.prevStart, sp.prevStart + 64);
          firstKind = kind;
          firstPayload = JSON.parse(buf.toString('utf8', sp.payloadStart, sp.payloadEnd));
          while (cpAt < task.cpSizes.length && (task.cpSizes[cpAt] as number) <= firstSeq) {
            cpAt++;
          }
        } else if (sp.seq !== firstSeq + count) {
          reason = `expected seq ${firstSeq + count}, found ${sp.seq}`;
        } else if (!hexEquals(buf, sp.prevStart, lastLeaf as string)) {
          reason = `record ${sp.seq} does not link to the previous record's hash`;
        } else if (kind === SYSTEM_KINDS.genesis) {
          reason = `record ${sp.seq} is a second genesis record`;
        } else if (kind === SYSTEM_KINDS.segmentStart) {
          reason = `record ${sp.seq} is a segment-start record inside a segment`;
        }
      }
      if (reason !== undefined) {
        error = { reason, offset: fileStart, seq: firstSeq < 0 ? -1 : firstSeq + count };
        return reason;
      }
      let hash = leaf;
      let level = 0;
      let idx = firstSeq + count;
      while (stackHash.length > 0 && idx % 2 === 1 && stackLevel[stackLevel.length - 1] === level) {
        stackLevel.pop();
        hash = nodeHashLatin1(stackHash.pop() as string, hash);
        level++;
        idx = (idx - 1) / 2;
      }
      stackHash.push(hash);
      stackLevel.push(level);
      count++;
      lastLeaf = leaf;
      const size = firstSeq + count;
      while (cpAt < task.cpSizes.length && task.cpSizes[cpAt] === size) {
        cpRanges.push({ size, nodes: rangeNodes() });
        cpAt++;
      }
      if (size === task.headSize) {
        head = { leaf: Buffer.from(leaf, 'latin1').toString('hex'), end: fileEnd };
      }
      return null;
    },
    task.end,
    scratch,
  );
  const trailingBytes = error === undefined ? end.trailingBytes : 0;
  return {
    count,
    firstSeq,
    firstPrev,
    firstKind,
    firstPayload,
    lastLeaf: lastLeaf === undefined ? '' : Buffer.from(lastLeaf, 'latin1').toString('hex'),
    range: rangeNodes(),
    cpRanges,
    ...(head ? { head } : {}),
    trailingBytes: Math.max(0, trailingBytes),
    ...(error ? { error } : {}),
  };
}
