import { constants } from 'node:fs';
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { helperV1 } from '@everythingos/proto';
import { FileTailer } from './file-tailer.js';

type RecordKind = Exclude<helperV1.RecordKind__Output, 'RECORD_KIND_UNSPECIFIED'>;

/** Options of {@link GlasswallySource}; validated by the bin. */
export interface GlasswallySourceOptions {
  /** Glasswally's `--output` directory (checked with `checkOutputDir` first). */
  dir: string;
  /**
   * `audit`: tail `audit_log.jsonl`, which holds every action once; `split`: tail the three
   * per-action files instead. Never both, or every action arrives twice.
   */
  actionFiles: 'audit' | 'split';
  /** File name (in `dir`) of the signed IOC feed (IocFeedEntry NDJSON). */
  feedFile: string;
  /** Also read the predecessor's signed `ioc_bundle_<id>.json` files. */
  legacyBundles: boolean;
  fromStart: boolean;
  pollMs: number;
  /** Line cap for action files, bytes. */
  actionLineCapBytes: number;
  /** Line cap for IOC files (bundles can be large), bytes. */
  iocLineCapBytes: number;
  /** Partial-line cap, bytes. */
  bufferCapBytes: number;
  /** Most bytes read per file per poll. */
  readChunkBytes: number;
}

/** Where a {@link GlasswallySource} delivers what it reads. */
export interface GlasswallySink {
  record(kind: RecordKind, file: string, lineNo: number, data: Buffer): void;
  alarm(kind: 'line_overflow' | 'file_rejected', count: number, message: string): void;
  dropped(n: number): void;
}

const ACTION_FILES = {
  audit: ['audit_log.jsonl'],
  split: ['enforcement_actions.jsonl', 'rate_limit_commands.jsonl', 'analyst_queue.jsonl'],
} as const;
const IOC_BUNDLES_FILE = 'ioc_bundles.jsonl';
const LEGACY_BUNDLE_NAME = /^ioc_bundle_[a-zA-Z0-9_-]{1,100}\.json$/;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function isJsonObjectLine(line: Buffer): boolean {
  let text: string;
  try {
    text = utf8.decode(line);
  } catch {
    return false; // invalid UTF-8: counted as dropped by the caller
  }
  const t = text.trim();
  if (!t.startsWith('{')) {
    return false;
  }
  try {
    const v: unknown = JSON.parse(t);
    return typeof v === 'object' && v !== null && !Array.isArray(v);
  } catch {
    return false; // not JSON: counted as dropped by the caller
  }
}

/**
 * Reads Glasswally's output directory: tails the action log and the IOC files, and picks up
 * the predecessor's signed bundle files. It forwards each non-blank line that is a JSON object;
 * parsing against the real schemas happens in the supervisor, which does not trust the helper.
 */
export class GlasswallySource {
  readonly #o: GlasswallySourceOptions;
  readonly #sink: GlasswallySink;
  readonly #log: Logger;
  readonly #tailers: { kind: RecordKind; file: string; tailer: FileTailer }[] = [];
  readonly #legacySeen = new Map<string, string>();
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  #received = 0;
  #lastEventAt = -1;

  constructor(options: GlasswallySourceOptions, sink: GlasswallySink, logger: Logger) {
    this.#o = options;
    this.#sink = sink;
    this.#log = logger;
    const tail = (kind: RecordKind, file: string, lineCapBytes: number): void => {
      this.#tailers.push({
        kind,
        file,
        tailer: new FileTailer({
          path: join(options.dir, file),
          lineCapBytes,
          bufferCapBytes: options.bufferCapBytes,
          readChunkBytes: options.readChunkBytes,
          fromStart: options.fromStart,
        }),
      });
    };
    for (const f of ACTION_FILES[options.actionFiles]) {
      tail('RECORD_KIND_ENFORCEMENT_ACTION', f, options.actionLineCapBytes);
    }
    tail('RECORD_KIND_IOC_BUNDLE', IOC_BUNDLES_FILE, options.iocLineCapBytes);
    tail('RECORD_KIND_IOC_FEED_ENTRY', options.feedFile, options.iocLineCapBytes);
  }

  get received(): number {
    return this.#received;
  }

  /** Wall-clock ms of the last record, or -1. */
  get lastEventAt(): number {
    return this.#lastEventAt;
  }

  /** Takes the first look (which sets the start offsets) and starts polling. */
  async start(): Promise<void> {
    await this.pollOnce();
    const tick = (): void => {
      this.#polling = this.pollOnce()
        .catch((err: unknown) => this.#log.error({ err }, 'glasswally poll failed'))
        .finally(() => {
          if (this.#timer !== undefined) {
            this.#timer = setTimeout(tick, this.#o.pollMs);
          }
        });
    };
    this.#timer = setTimeout(tick, this.#o.pollMs);
  }

  async stop(): Promise<void> {
    const t = this.#timer;
    this.#timer = undefined;
    clearTimeout(t);
    await this.#polling;
  }

  /** One pass over every file; exposed for tests. */
  async pollOnce(): Promise<void> {
    for (const { kind, file, tailer } of this.#tailers) {
      const r = await tailer.poll();
      if (r.rejected !== null) {
        this.#sink.alarm('file_rejected', 1, `${file} is not a regular file; not read`);
        continue;
      }
      if (r.rotated) {
        this.#log.info({ file }, 'glasswally file rotated');
      }
      if (r.skippedBytes > 0) {
        this.#sink.alarm('line_overflow', r.skippedBytes, `${file}: oversized line skipped`);
      }
      let dropped = r.oversized;
      const firstNo = tailer.lineNo - r.lines.length;
      r.lines.forEach((line, i) => {
        if (line.every((b) => b === 0x20 || b === 0x09 || b === 0x0d)) {
          return;
        }
        this.#received++;
        this.#lastEventAt = Date.now();
        if (!isJsonObjectLine(line)) {
          dropped++;
          return;
        }
        this.#sink.record(kind, file, firstNo + i + 1, line);
      });
      if (dropped > 0) {
        this.#sink.dropped(dropped);
      }
    }
    if (this.#o.legacyBundles) {
      await this.#scanLegacy();
    }
  }

  async #scanLegacy(): Promise<void> {
    const names = (await readdir(this.#o.dir)).filter((n) => LEGACY_BUNDLE_NAME.test(n));
    const present = new Set(names);
    for (const n of this.#legacySeen.keys()) {
      if (!present.has(n)) {
        this.#legacySeen.delete(n);
      }
    }
    for (const name of names) {
      let handle;
      try {
        handle = await open(join(this.#o.dir, name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
      } catch (err) {
        this.#sink.alarm('file_rejected', 1, `${name} cannot be opened (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
        continue;
      }
      try {
        const st = await handle.stat();
        // A rewritten file (new inode, size or mtime) is read again; the predecessor never retried.
        const identity = `${st.ino}:${st.size}:${st.mtimeMs}`;
        if (this.#legacySeen.get(name) === identity) {
          continue;
        }
        this.#legacySeen.set(name, identity);
        if (!st.isFile() || st.size > this.#o.iocLineCapBytes) {
          this.#sink.alarm('file_rejected', 1, `${name} is not a regular file or is over the size cap`);
          continue;
        }
        const data = await handle.readFile();
        this.#received++;
        this.#lastEventAt = Date.now();
        if (!isJsonObjectLine(data)) {
          this.#sink.dropped(1);
          continue;
        }
        this.#sink.record('RECORD_KIND_LEGACY_SIGNED_BUNDLE', name, 0, data);
      } finally {
        await handle.close();
      }
    }
  }
}
