import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';

/** Reads the resident set size of a process in bytes; null when the process is gone or unreadable. */
export type RssReader = (pid: number) => Promise<number | null>;

/** Options of {@link RssSampler}. */
export interface RssSamplerOptions {
  /** Pids to keep sampled (the live agent processes); asked at the start of every sweep. */
  readonly pids: () => Iterable<number>;
  /** Pause between the end of one sweep and the start of the next, ms. */
  readonly intervalMs: number;
  /** Reads in flight at once during a sweep (bounds the file descriptors and thread-pool share). */
  readonly concurrency: number;
  readonly log: Logger;
  /** Defaults to {@link readProcRss} (VmRSS of `/proc/<pid>/status`). */
  readonly read?: RssReader;
  readonly now?: () => number;
}

interface Sample {
  readonly bytes: number;
  readonly atMs: number;
}

/** VmRSS of `/proc/<pid>/status`, in bytes (what `ps` shows as RSS); null if the process is gone. */
export async function readProcRss(pid: number): Promise<number | null> {
  let status: string;
  try {
    status = await readFile(`/proc/${pid}/status`, 'utf8');
  } catch {
    // The process exited (or was never ours to see): there is no RSS to report.
    return null;
  }
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  return m?.[1] === undefined ? null : Number(m[1]) * 1024;
}

/**
 * Keeps the RSS of the agent processes sampled in the background so that control RPCs
 * (`ListAgents`, `GetAgent`, `GetStatus`) and metric scrapes read a cached number instead of
 * reading `/proc` of every agent per call: their cost no longer grows with the number of agents.
 *
 * A sweep reads every pid from {@link RssSamplerOptions.pids} (at most `concurrency` at once) and
 * forgets pids no longer listed; the next sweep starts `intervalMs` after one ends, so sweeps never
 * overlap. A value is therefore at most `intervalMs` + one sweep old ({@link RssSampler.ageMs});
 * a pid never sampled yet (an agent that just started) is read once on first request.
 */
export class RssSampler {
  readonly #o: RssSamplerOptions;
  readonly #read: RssReader;
  readonly #now: () => number;
  readonly #samples = new Map<number, Sample>();
  #timer: NodeJS.Timeout | undefined;
  #sweep: Promise<void> | undefined;
  #stopped = true;

  constructor(opts: RssSamplerOptions) {
    this.#o = opts;
    this.#read = opts.read ?? readProcRss;
    this.#now = opts.now ?? Date.now;
  }

  /** Starts sweeping: one sweep now, then one `intervalMs` after each ends. */
  start(): void {
    if (!this.#stopped) {
      return;
    }
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Stops sweeping and waits for a sweep in progress. Cached values stay readable. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#sweep;
  }

  /**
   * RSS of `pid` in bytes from the last sweep; read on the spot (and cached) only when `pid` has
   * no sample yet. 0 when the process is gone.
   */
  async rssBytes(pid: number): Promise<number> {
    const s = this.#samples.get(pid);
    if (s !== undefined) {
      return s.bytes;
    }
    const bytes = (await this.#read(pid)) ?? 0;
    this.#samples.set(pid, { bytes, atMs: this.#now() });
    return bytes;
  }

  /** Age in ms of the cached sample of `pid`, or undefined when there is none. */
  ageMs(pid: number): number | undefined {
    const s = this.#samples.get(pid);
    return s === undefined ? undefined : this.#now() - s.atMs;
  }

  /** Samples every listed pid once now (also what the timer runs). */
  sweep(): Promise<void> {
    this.#sweep ??= this.#sweepOnce().finally(() => {
      this.#sweep = undefined;
    });
    return this.#sweep;
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => {
      void this.sweep()
        .catch((err: unknown) => this.#o.log.warn({ err }, 'RSS sweep failed'))
        .finally(() => {
          if (!this.#stopped) {
            this.#schedule(this.#o.intervalMs);
          }
        });
    }, delayMs);
    this.#timer.unref();
  }

  async #sweepOnce(): Promise<void> {
    const pids = [...new Set(this.#o.pids())].filter((p) => p > 0);
    const live = new Set(pids);
    for (const pid of this.#samples.keys()) {
      if (!live.has(pid)) {
        this.#samples.delete(pid);
      }
    }
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < pids.length) {
        const pid = pids[next++] as number;
        const bytes = await this.#read(pid);
        this.#samples.set(pid, { bytes: bytes ?? 0, atMs: this.#now() });
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#o.concurrency, pids.length) }, lane));
  }
}
