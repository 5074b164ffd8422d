import { parseRecordLine, SYSTEM_KINDS } from './ledger-record.js';
import { nodeHash } from './merkle.js';
import { scanSegment } from './segment-scanner.js';

/** A subtree hash of a compact range: covers 2^level leaves. */
export interface RangeNode {
  readonly level: number;
  readonly hash: Uint8Array;
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
 * compact Merkle range over its leaves. Runs in a worker thread or inline.
 */
export function verifyChunk(task: ChunkTask): ChunkResult {
  let count = 0;
  let firstSeq = -1;
  let firstPrev = '';
  let firstKind = '';
  let firstPayload: unknown = null;
  let lastLeaf = '';
  const nodes: RangeNode[] = [];
  const cpRanges: { size: number; nodes: RangeNode[] }[] = [];
  let head: ChunkResult['head'];
  let cpAt = 0;
  let error: ChunkResult['error'];
  const end = scanSegment(
    task.path,
    task.start,
    (text, leaf, lineStart, lineEnd) => {
      const parsed = parseRecordLine(text);
      if (!parsed.ok) {
        error = { reason: parsed.reason, offset: lineStart, seq: firstSeq < 0 ? -1 : firstSeq + count };
        return parsed.reason;
      }
      const r = parsed.record;
      const leafHex = leaf.toString('hex');
      if (count === 0) {
        firstSeq = r.seq;
        firstPrev = r.prev;
        firstKind = r.kind;
        firstPayload = r.payload;
        while (cpAt < task.cpSizes.length && (task.cpSizes[cpAt] as number) <= firstSeq) {
          cpAt++;
        }
      } else {
        let reason: string | undefined;
        if (r.seq !== firstSeq + count) {
          reason = `expected seq ${firstSeq + count}, found ${r.seq}`;
        } else if (r.prev !== lastLeaf) {
          reason = `record ${r.seq} does not link to the previous record's hash`;
        } else if (r.kind === SYSTEM_KINDS.genesis) {
          reason = `record ${r.seq} is a second genesis record`;
        } else if (r.kind === SYSTEM_KINDS.segmentStart) {
          reason = `record ${r.seq} is a segment-start record inside a segment`;
        }
        if (reason !== undefined) {
          error = { reason, offset: lineStart, seq: firstSeq + count };
          return reason;
        }
      }
      let hash: Uint8Array = leaf;
      let level = 0;
      let idx = firstSeq + count;
      while (nodes.length > 0 && idx % 2 === 1 && (nodes[nodes.length - 1] as RangeNode).level === level) {
        hash = nodeHash((nodes.pop() as RangeNode).hash, hash);
        level++;
        idx = (idx - 1) / 2;
      }
      nodes.push({ level, hash });
      count++;
      lastLeaf = leafHex;
      const size = firstSeq + count;
      while (cpAt < task.cpSizes.length && task.cpSizes[cpAt] === size) {
        cpRanges.push({ size, nodes: nodes.slice() });
        cpAt++;
      }
      if (size === task.headSize) {
        head = { leaf: leafHex, end: lineEnd };
      }
      return null;
    },
    task.end,
  );
  const trailingBytes = error === undefined ? end.trailingBytes : 0;
  return {
    count,
    firstSeq,
    firstPrev,
    firstKind,
    firstPayload,
    lastLeaf,
    range: nodes,
    cpRanges,
    ...(head ? { head } : {}),
    trailingBytes: Math.max(0, trailingBytes),
    ...(error ? { error } : {}),
  };
}
