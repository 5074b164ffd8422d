import type { MerkleFrontier } from './merkle.js';
import { genesisPrev, parseRecordLine, SYSTEM_KINDS, type LedgerRecord } from './ledger-record.js';

/** Position of a chain walk: what the next record must link to. */
export interface ChainPosition {
  /** Number of records accepted so far (= next expected seq). */
  size: number;
  /** Hex leaf hash of the last accepted record ('' before genesis). */
  lastHash: string;
  /** Ledger id from the genesis record ('' before genesis). */
  ledgerId: string;
  /** Origin from the genesis record. */
  origin: string;
}

/**
 * Checks records one by one: canonical form, contiguous seq, hash links, genesis binding, and that
 * each segment after the first opens with a segment-start record naming it. Keeps the Merkle
 * frontier up to date.
 */
export class ChainChecker {
  readonly position: ChainPosition;
  readonly frontier: MerkleFrontier;
  #firstInSegment = false;
  #segment = 0;
  /** The last record accepted. */
  last: LedgerRecord | undefined;

  constructor(position: ChainPosition, frontier: MerkleFrontier) {
    this.position = position;
    this.frontier = frontier;
  }

  /** Announces that the following lines come from segment `n`, starting at its beginning or not. */
  enterSegment(n: number, atStart: boolean): void {
    this.#segment = n;
    this.#firstInSegment = atStart;
  }

  /** Accepts one line; returns null or why it breaks the chain. */
  accept(text: string, leaf: Buffer): string | null {
    const parsed = parseRecordLine(text);
    if (!parsed.ok) {
      return parsed.reason;
    }
    const r = parsed.record;
    const pos = this.position;
    if (r.seq !== pos.size) {
      return `expected seq ${pos.size}, found ${r.seq}`;
    }
    if (pos.size === 0) {
      const p = r.payload as { ledgerId?: unknown; origin?: unknown } | null;
      if (r.kind !== SYSTEM_KINDS.genesis || typeof p?.ledgerId !== 'string' || typeof p.origin !== 'string') {
        return 'first record is not a ledger.genesis record';
      }
      if (r.prev !== genesisPrev(p.ledgerId)) {
        return 'genesis record is not bound to its ledger id';
      }
      pos.ledgerId = p.ledgerId;
      pos.origin = p.origin;
    } else if (r.prev !== pos.lastHash) {
      return `record ${r.seq} does not link to the previous record's hash`;
    } else if (r.kind === SYSTEM_KINDS.genesis) {
      return `record ${r.seq} is a second genesis record`;
    }
    const isSegmentStart = r.kind === SYSTEM_KINDS.segmentStart;
    if (this.#firstInSegment && this.#segment > 1) {
      const p = r.payload as { segment?: unknown } | null;
      if (!isSegmentStart || p?.segment !== this.#segment) {
        return `segment ${this.#segment} does not open with its segment-start record`;
      }
    } else if (isSegmentStart) {
      return `record ${r.seq} is a segment-start record inside a segment`;
    }
    this.#firstInSegment = false;
    pos.size++;
    pos.lastHash = leaf.toString('hex');
    this.frontier.push(leaf);
    this.last = r;
    return null;
  }
}
