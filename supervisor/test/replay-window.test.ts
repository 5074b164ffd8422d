import { describe, expect, it } from 'vitest';
import { ReplayWindow } from '../src/rpc/replay-window.js';

describe('ReplayWindow', () => {
  it('accepts each nonce once, in or out of order within the window', () => {
    const w = new ReplayWindow(64);
    expect([1, 3, 2, 5, 4].map((n) => w.accept(n))).toEqual([true, true, true, true, true]);
    expect([1, 2, 3, 4, 5].map((n) => w.accept(n))).toEqual([false, false, false, false, false]);
  });

  it('rejects nonces older than the window and non-positive or unsafe ones', () => {
    const w = new ReplayWindow(64);
    expect(w.accept(100)).toBe(true);
    expect(w.accept(36)).toBe(false);
    expect(w.accept(37)).toBe(true);
    expect(w.accept(0)).toBe(false);
    expect(w.accept(-1)).toBe(false);
    expect(w.accept(Number.MAX_SAFE_INTEGER + 2)).toBe(false);
  });

  it('forgets bits when it slides, so a jump does not make old slots look seen', () => {
    const w = new ReplayWindow(32);
    for (let n = 1; n <= 32; n++) {
      w.accept(n);
    }
    expect(w.accept(40)).toBe(true);
    expect(w.accept(33)).toBe(true);
    expect(w.accept(39)).toBe(true);
    expect(w.accept(1000)).toBe(true);
    expect(w.accept(999)).toBe(true);
    expect(w.accept(999)).toBe(false);
  });

  it('rejects sizes that are not positive multiples of 32', () => {
    expect(() => new ReplayWindow(10)).toThrow(RangeError);
  });
});
