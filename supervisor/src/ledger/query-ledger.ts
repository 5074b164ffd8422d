import { join } from 'node:path';
import { listSegments, segmentName } from './ledger-files.js';
import { parseRecordLine, type LedgerRecord } from './ledger-record.js';
import { scanSegment } from './segment-scanner.js';

/** Filter of {@link queryLedger}; all given fields must match. */
export interface LedgerQuery {
  readonly agent?: string;
  /** Exact kind, or a prefix ending in `.` (e.g. `auth.`). */
  readonly kind?: string;
  /** Inclusive lower bound on `ts` (ms). */
  readonly since?: number;
  /** Exclusive upper bound on `ts` (ms). */
  readonly until?: number;
  /** At most this many records, oldest first. @defaultValue 1000 */
  readonly limit?: number;
}

const DEFAULT_LIMIT = 1000;

/**
 * Streams the ledger's segments and returns matching records, oldest first. Does not verify the
 * chain (run verifyLedger for that); unparsable lines are skipped.
 */
export function queryLedger(dir: string, filter: LedgerQuery = {}): LedgerRecord[] {
  const limit = filter.limit ?? DEFAULT_LIMIT;
  const out: LedgerRecord[] = [];
  const kind = filter.kind;
  const kindMatches = (k: string): boolean =>
    kind === undefined || (kind.endsWith('.') ? k.startsWith(kind) : k === kind);
  for (const n of listSegments(dir)) {
    if (out.length >= limit) {
      break;
    }
    scanSegment(join(dir, segmentName(n)), 0, (buf, start, end) => {
      const parsed = parseRecordLine(buf.toString('utf8', start, end));
      if (!parsed.ok) {
        return null;
      }
      const r = parsed.record;
      if (
        (filter.agent === undefined || r.agent === filter.agent) &&
        kindMatches(r.kind) &&
        (filter.since === undefined || r.ts >= filter.since) &&
        (filter.until === undefined || r.ts < filter.until)
      ) {
        out.push(r);
      }
      return out.length >= limit ? 'limit' : null;
    });
  }
  return out;
}
