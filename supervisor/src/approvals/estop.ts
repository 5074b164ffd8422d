import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { z } from 'zod';
import { EosError } from '@everythingos/proto';
import { writeFileAtomic } from '../state/atomic-write.js';
import type { ApprovalManager, ApprovalView } from './approval-manager.js';
import type { RecordSink } from './record-sink.js';

const EstopFileSchema = z.strictObject({
  v: z.literal(1),
  active: z.boolean(),
  reason: z.string(),
  engagedAtMs: z.number().int().min(0),
  clearedAtMs: z.number().int().min(0).optional(),
});

/** The emergency-stop state, as persisted. */
export type EstopState = z.output<typeof EstopFileSchema>;

export interface EmergencyStopOptions {
  /** The state file (written atomically, mode 0600). */
  file: string;
  approvals: ApprovalManager;
  sink: RecordSink;
  log: Logger;
  /** Kills every agent now; resolves with how many were running, starting or in backoff. */
  killAll: (reason: string) => Promise<number>;
  now?: () => number;
}

/**
 * The persistent emergency stop: once engaged, every agent is killed and every start path is
 * refused, across daemon restarts, until a registered approver signs the clear. A state file that
 * exists but cannot be read or parsed counts as engaged (fail closed).
 */
export class EmergencyStop {
  readonly #o: EmergencyStopOptions;
  readonly #now: () => number;
  #state: EstopState;

  private constructor(opts: EmergencyStopOptions, state: EstopState) {
    this.#o = opts;
    this.#now = opts.now ?? Date.now;
    this.#state = state;
  }

  /** Loads the state file; absent = not engaged. */
  static async open(opts: EmergencyStopOptions): Promise<EmergencyStop> {
    let text: string | undefined;
    try {
      text = await readFile(opts.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        opts.log.error({ err, file: opts.file }, 'emergency-stop file unreadable; treating the emergency stop as engaged');
        return new EmergencyStop(opts, { v: 1, active: true, reason: 'emergency-stop file unreadable', engagedAtMs: 0 });
      }
    }
    if (text === undefined) {
      return new EmergencyStop(opts, { v: 1, active: false, reason: '', engagedAtMs: 0 });
    }
    let state: EstopState;
    try {
      state = EstopFileSchema.parse(JSON.parse(text));
    } catch (err) {
      opts.log.error({ err, file: opts.file }, 'emergency-stop file corrupt; treating the emergency stop as engaged');
      state = { v: 1, active: true, reason: 'emergency-stop file corrupt', engagedAtMs: 0 };
    }
    if (state.active) {
      opts.log.error({ reason: state.reason, engagedAtMs: state.engagedAtMs }, 'emergency stop is engaged; no agent will start until it is cleared');
    }
    return new EmergencyStop(opts, state);
  }

  get state(): Readonly<EstopState> {
    return { ...this.#state };
  }

  get isActive(): boolean {
    return this.#state.active;
  }

  /**
   * Refuses a start while engaged.
   * @throws EosError `EOS_ESTOP_ACTIVE`
   */
  assertInactive(agentId: string): void {
    if (this.#state.active) {
      throw new EosError('EOS_ESTOP_ACTIVE', `emergency stop is engaged (${this.#state.reason}); agent ${agentId} may not start until "eosd estop clear" is approved`, {
        details: { agentId, reason: this.#state.reason },
      });
    }
  }

  /**
   * Engages: blocks starts at once, then kills every agent and persists the state in parallel.
   * @returns how many agents were stopped.
   * @throws the file system's error when the state could not be persisted (agents are still killed).
   */
  async engage(reason: string): Promise<number> {
    const next: EstopState = { v: 1, active: true, reason: reason === '' ? 'operator emergency stop' : reason, engagedAtMs: this.#now() };
    this.#state = next;
    this.#o.log.error({ reason: next.reason }, 'emergency stop engaged');
    const [stopped] = await Promise.all([this.#o.killAll(`emergency stop: ${next.reason}`), this.#persist(next)]);
    await this.#o.sink.record('estop.engaged', undefined, { reason: next.reason, agentsStopped: stopped }, { durable: true });
    return stopped;
  }

  /**
   * Opens (or returns the already open) approval request whose approval clears the emergency stop.
   * @returns undefined when the emergency stop is not engaged.
   */
  async requestClear(): Promise<ApprovalView | undefined> {
    if (!this.#state.active) {
      return undefined;
    }
    const open = this.#o.approvals.findPending('estop-clear', undefined);
    if (open !== undefined) {
      return open;
    }
    const engagedAtMs = this.#state.engagedAtMs;
    const { view } = await this.#o.approvals.open(
      'estop-clear',
      undefined,
      `clear the emergency stop engaged at ${new Date(engagedAtMs).toISOString()} (${this.#state.reason})`,
      { engagedAtMs, reason: this.#state.reason },
      () => this.#clear(),
    );
    return view;
  }

  async #clear(): Promise<void> {
    const next: EstopState = { ...this.#state, active: false, clearedAtMs: this.#now() };
    await this.#persist(next);
    this.#state = next;
    this.#o.log.warn({}, 'emergency stop cleared');
    await this.#o.sink.record('estop.cleared', undefined, { engagedAtMs: next.engagedAtMs }, { durable: true });
  }

  #persist(state: EstopState): Promise<void> {
    return writeFileAtomic(this.#o.file, `${JSON.stringify(state)}\n`, 0o600);
  }
}
