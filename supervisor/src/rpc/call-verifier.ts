import { timingSafeEqual } from 'node:crypto';
import { computeCallMac, EosError, type agentV1 } from '@everythingos/proto';
import { ReplayWindow } from './replay-window.js';

/** Largest clock difference between agent and supervisor accepted on a call, ms. */
export const MAX_CLOCK_SKEW_MS = 60_000;

export type AuthFailureReason = 'missing' | 'bad_mac' | 'replay' | 'clock_skew';

/**
 * Checks the CallAuth of every call one agent process makes: MAC under its session key, clock
 * skew, and replay. One verifier per agent process (per session key).
 */
export class CallVerifier {
  readonly #key: Buffer;
  readonly #window = new ReplayWindow();
  readonly #now: () => number;

  constructor(sessionKey: Buffer, now: () => number = Date.now) {
    this.#key = sessionKey;
    this.#now = now;
  }

  /**
   * @throws EosError `EOS_UNAUTHENTICATED` with `details.reason` one of {@link AuthFailureReason}.
   */
  verify(method: string, channel: string, auth: agentV1.CallAuth__Output | null | undefined, body?: Uint8Array): void {
    if (auth === null || auth === undefined || auth.mac.length !== 32) {
      throw fail('missing', `${method} call carries no valid CallAuth`);
    }
    const expected = computeCallMac(this.#key, method, channel, auth.nonce, auth.timestampMs, body);
    if (!timingSafeEqual(expected, auth.mac)) {
      throw fail('bad_mac', `${method} call has a bad MAC`);
    }
    if (Math.abs(this.#now() - auth.timestampMs) > MAX_CLOCK_SKEW_MS) {
      throw fail('clock_skew', `${method} call timestamp is more than ${MAX_CLOCK_SKEW_MS / 1000} s off the supervisor clock`);
    }
    if (!this.#window.accept(auth.nonce)) {
      throw fail('replay', `${method} call replays nonce ${auth.nonce}`);
    }
  }
}

function fail(reason: AuthFailureReason, message: string): EosError {
  return new EosError('EOS_UNAUTHENTICATED', message, { details: { reason } });
}
