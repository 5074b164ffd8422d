import { describe, expect, it } from 'vitest';
import { decideRestart, type RestartPolicyConfig } from '../src/agent/restart-policy.js';

const base: RestartPolicyConfig = {
  restart: 'permanent',
  intensity: { maxRestarts: 3, windowSec: 10 },
  backoff: { initialMs: 100, factor: 2, maxMs: 1_000, jitter: 0, resetAfterMs: 5_000 },
};
const crash = { code: 1, signal: null };
const clean = { code: 0, signal: null };
const none = { restartTimesMs: [], consecutiveFailures: 0 };
const mid = (): number => 0.5;

describe('decideRestart', () => {
  it('grows the delay exponentially and caps it', () => {
    let history = none as { restartTimesMs: readonly number[]; consecutiveFailures: number };
    const delays: number[] = [];
    const cfg = { ...base, intensity: { maxRestarts: 100, windowSec: 10 } };
    for (let i = 0; i < 6; i++) {
      const d = decideRestart(cfg, crash, 10, history, 1_000 + i, mid);
      if (d.action !== 'restart') {
        throw new Error('expected restart');
      }
      delays.push(d.delayMs);
      history = d.history;
    }
    expect(delays).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it('gives up past maxRestarts within the window, and forgets restarts outside it', () => {
    const history = { restartTimesMs: [1_000, 2_000, 3_000], consecutiveFailures: 3 };
    expect(decideRestart(base, crash, 10, history, 4_000, mid).action).toBe('give-up');
    expect(decideRestart(base, crash, 10, history, 11_500, mid).action).toBe('restart');
  });

  it('resets the backoff after a long enough uptime', () => {
    const d = decideRestart(base, crash, 6_000, { restartTimesMs: [], consecutiveFailures: 5 }, 0, mid);
    expect(d).toMatchObject({ action: 'restart', delayMs: 100 });
  });

  it('applies permanent, transient and temporary like OTP', () => {
    expect(decideRestart(base, clean, 10, none, 0, mid).action).toBe('restart');
    expect(decideRestart({ ...base, restart: 'transient' }, clean, 10, none, 0, mid).action).toBe('stop');
    expect(decideRestart({ ...base, restart: 'transient' }, { code: null, signal: 'SIGKILL' }, 10, none, 0, mid).action).toBe('restart');
    expect(decideRestart({ ...base, restart: 'temporary' }, crash, 10, none, 0, mid).action).toBe('stop');
  });

  it('spreads delays by ±jitter', () => {
    const cfg = { ...base, backoff: { ...base.backoff, jitter: 0.2 } };
    const low = decideRestart(cfg, crash, 10, none, 0, () => 0);
    const high = decideRestart(cfg, crash, 10, none, 0, () => 0.999999);
    expect(low).toMatchObject({ delayMs: 80 });
    expect(high).toMatchObject({ delayMs: 120 });
  });
});
