import { execFile } from 'node:child_process';
import type { Logger } from 'pino';

/** How long one systemd-notify call may take (it waits for PID 1's barrier acknowledgement), ms. */
const NOTIFY_TIMEOUT_MS = 5_000;

/** Health inputs that gate every watchdog ping: a ping from a sick daemon is a lie. */
export type HealthCheck = () => Promise<{ healthy: boolean; reason?: string }>;

export interface SdNotifierOptions {
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** The notify helper; systemd-notify ≥ 246 waits for a barrier so PID 1 attributes the message. */
  notifyBin?: string;
  pid?: number;
}

/**
 * sd_notify(3) for a Node daemon. Node has no AF_UNIX datagram sockets, so each message is sent
 * by `systemd-notify` (requires `NotifyAccess=all` on the unit); a no-op without `NOTIFY_SOCKET`.
 */
export class SdNotifier {
  readonly #socket: string | undefined;
  readonly #bin: string;
  readonly #log: Logger;
  readonly #pid: number;
  readonly #watchdogUsec: number | undefined;
  #watchdogTimer: NodeJS.Timeout | undefined;

  constructor(opts: SdNotifierOptions) {
    this.#socket = opts.env.NOTIFY_SOCKET === '' ? undefined : opts.env.NOTIFY_SOCKET;
    this.#bin = opts.notifyBin ?? 'systemd-notify';
    this.#log = opts.logger;
    this.#pid = opts.pid ?? process.pid;
    const usec = Number(opts.env.WATCHDOG_USEC);
    const wpid = opts.env.WATCHDOG_PID;
    this.#watchdogUsec = Number.isFinite(usec) && usec > 0 && (wpid === undefined || Number(wpid) === this.#pid) ? usec : undefined;
  }

  /** Whether a service manager listens. */
  get enabled(): boolean {
    return this.#socket !== undefined;
  }

  /** The watchdog period the manager asked for, ms; undefined when none. */
  get watchdogMs(): number | undefined {
    return this.#watchdogUsec === undefined ? undefined : this.#watchdogUsec / 1000;
  }

  ready(status: string): Promise<void> {
    return this.#send(['--ready', `--status=${status}`]);
  }

  status(status: string): Promise<void> {
    return this.#send([`--status=${status}`]);
  }

  stopping(): Promise<void> {
    return this.#send(['STOPPING=1']);
  }

  reloading(): Promise<void> {
    return this.#send(['RELOADING=1', `MONOTONIC_USEC=${Math.floor(performance.timeOrigin * 1000 + performance.now() * 1000)}`]);
  }

  /**
   * Pings the watchdog every half period, but only while `check` says the daemon is healthy;
   * an unhealthy daemon stops pinging and lets the service manager restart it.
   */
  startWatchdog(check: HealthCheck): void {
    const period = this.watchdogMs;
    if (!this.enabled || period === undefined) {
      return;
    }
    this.#watchdogTimer = setInterval(() => {
      void check().then(
        async (h) => {
          if (h.healthy) {
            await this.#send(['WATCHDOG=1']);
          } else {
            this.#log.error({ reason: h.reason }, 'health check failed; withholding the watchdog ping');
          }
        },
        (err: unknown) => this.#log.error({ err }, 'health check threw; withholding the watchdog ping'),
      );
    }, period / 2);
    this.#watchdogTimer.unref();
  }

  stopWatchdog(): void {
    clearInterval(this.#watchdogTimer);
  }

  #send(args: string[]): Promise<void> {
    const socket = this.#socket;
    if (socket === undefined) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      execFile(
        this.#bin,
        [`--pid=${this.#pid}`, ...args],
        { env: { NOTIFY_SOCKET: socket, PATH: '/usr/bin:/bin' }, timeout: NOTIFY_TIMEOUT_MS },
        (err) => {
          if (err) {
            this.#log.warn({ err, args }, 'sd_notify failed');
          }
          resolve();
        },
      );
    });
  }
}
