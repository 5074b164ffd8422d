/** How an agent process ended. */
export interface ExitInfo {
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RestartPolicyConfig {
  restart: 'permanent' | 'transient' | 'temporary';
  intensity: { maxRestarts: number; windowSec: number };
  backoff: { initialMs: number; factor: number; maxMs: number; jitter: number; resetAfterMs: number };
}

export interface RestartHistory {
  /** When past restarts were decided, ms; only the intensity window matters. */
  restartTimesMs: readonly number[];
  /** Consecutive failures without a long enough uptime in between. */
  consecutiveFailures: number;
}

export type RestartDecision =
  | { action: 'restart'; delayMs: number; history: RestartHistory }
  | { action: 'stop'; history: RestartHistory }
  | { action: 'give-up'; history: RestartHistory };

/** Whether an exit counts as a failure (anything but exit code 0). */
export function isAbnormalExit(exit: ExitInfo): boolean {
  return exit.signal !== null || exit.code !== 0;
}

/**
 * Decides what follows an unrequested exit, OTP-style: `permanent` always restarts, `transient`
 * restarts after abnormal exits, `temporary` never does; more than `maxRestarts` restarts within
 * `windowSec` gives up (the agent becomes `errored`). Delays grow exponentially from `initialMs`
 * by `factor` up to `maxMs`, spread by ±`jitter`, and start over after `resetAfterMs` of uptime.
 * Pure: time and randomness come in as arguments.
 */
export function decideRestart(
  config: RestartPolicyConfig,
  exit: ExitInfo,
  uptimeMs: number,
  history: RestartHistory,
  nowMs: number,
  random: () => number,
): RestartDecision {
  const abnormal = isAbnormalExit(exit);
  const wantsRestart = config.restart === 'permanent' || (config.restart === 'transient' && abnormal);
  const consecutive = uptimeMs >= config.backoff.resetAfterMs ? 0 : history.consecutiveFailures;
  if (!wantsRestart) {
    return { action: 'stop', history: { restartTimesMs: history.restartTimesMs, consecutiveFailures: consecutive } };
  }
  const windowStart = nowMs - config.intensity.windowSec * 1000;
  const recent = history.restartTimesMs.filter((t) => t > windowStart);
  if (recent.length >= config.intensity.maxRestarts) {
    return { action: 'give-up', history: { restartTimesMs: recent, consecutiveFailures: consecutive + 1 } };
  }
  const { initialMs, factor, maxMs, jitter } = config.backoff;
  const base = Math.min(maxMs, initialMs * factor ** consecutive);
  const spread = base * jitter * (random() * 2 - 1);
  const delayMs = Math.max(0, Math.round(Math.min(maxMs, base + spread)));
  return { action: 'restart', delayMs, history: { restartTimesMs: [...recent, nowMs], consecutiveFailures: consecutive + 1 } };
}
