import type { AuthFailureReason } from './call-verifier.js';

/** Authentication failures by reason, daemon-wide. */
export type AuthCounters = Record<AuthFailureReason, number>;

export function newAuthCounters(): AuthCounters {
  return { missing: 0, bad_mac: 0, replay: 0, clock_skew: 0 };
}
