import { open, readFile } from 'node:fs/promises';

/**
 * Where approvals, emergency stops and quarantines are recorded. The decision ledger's append fits
 * it; a record that cannot be made durable must reject, and callers then fail closed.
 */
export interface RecordSink {
  record(kind: string, agentId: string | undefined, payload: object, opts: { durable: true }): Promise<void>;
}

/** Reads back recent records of one agent (for quarantine snapshots). */
export interface RecentRecords {
  recent(agentId: string, limit: number): Promise<object[]>;
}

/** One line of a {@link JsonlRecordSink} file. */
export interface JsonlRecord {
  atMs: number;
  kind: string;
  agentId?: string;
  payload: object;
}

/**
 * An append-only JSON-lines sink, fsynced per record, serialised. Interim stand-in until the
 * hash-chained ledger is wired in: it is durable but not tamper-evident.
 */
export class JsonlRecordSink implements RecordSink, RecentRecords {
  readonly #file: string;
  readonly #now: () => number;
  #tail: Promise<unknown> = Promise.resolve();

  constructor(file: string, now: () => number = Date.now) {
    this.#file = file;
    this.#now = now;
  }

  get file(): string {
    return this.#file;
  }

  /** Appends one line and fsyncs it; every record is durable, so `opts` changes nothing. */
  record(kind: string, agentId: string | undefined, payload: object, opts: { durable: true } = { durable: true }): Promise<void> {
    if (!opts.durable) {
      throw new TypeError('JsonlRecordSink only writes durable records');
    }
    const line: JsonlRecord = { atMs: this.#now(), kind, ...(agentId === undefined ? {} : { agentId }), payload };
    const run = this.#tail.then(async () => {
      const fh = await open(this.#file, 'a', 0o600);
      try {
        await fh.appendFile(`${JSON.stringify(line)}\n`);
        await fh.datasync();
      } finally {
        await fh.close();
      }
    });
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** Every record, oldest first; an absent file is empty. */
  async all(): Promise<JsonlRecord[]> {
    await this.#tail;
    let text: string;
    try {
      text = await readFile(this.#file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        return [];
      }
      throw err;
    }
    return text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as JsonlRecord);
  }

  async recent(agentId: string, limit: number): Promise<object[]> {
    return (await this.all()).filter((r) => r.agentId === agentId).slice(-limit);
  }
}
