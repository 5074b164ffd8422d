import { describe, expect, it, vi } from 'vitest';
import type * as Errors from '../src/errors.js';

type ErrorsModule = typeof Errors;

/** Two separate evaluations of errors.ts: two EosError classes, as two copies of the package give. */
async function twoCopies(): Promise<[ErrorsModule, ErrorsModule]> {
  vi.resetModules();
  const a = await import('../src/errors.js');
  vi.resetModules();
  const b = await import('../src/errors.js');
  return [a, b];
}

describe('EosError across copies of the package', () => {
  it('instanceof holds both ways between two copies of the class', async () => {
    const [a, b] = await twoCopies();
    expect(a.EosError).not.toBe(b.EosError);
    const fromA = new a.EosError('EOS_NOT_FOUND', 'no such agent');
    const fromB = new b.EosError('EOS_RATE_LIMITED', 'slow down');
    expect(fromA instanceof b.EosError).toBe(true);
    expect(fromB instanceof a.EosError).toBe(true);
    expect(fromA instanceof a.EosError).toBe(true);
    expect(fromA instanceof Error).toBe(true);
    expect(b.isEosError(fromA, 'EOS_NOT_FOUND')).toBe(true);
  });

  it('is not fooled by look-alikes: a plain object or Error with an EOS_* code is not an EosError', async () => {
    const [a] = await twoCopies();
    expect({ code: 'EOS_NOT_FOUND', name: 'EosError', message: 'x' } instanceof a.EosError).toBe(false);
    expect(Object.assign(new Error('x'), { code: 'EOS_NOT_FOUND', name: 'EosError' }) instanceof a.EosError).toBe(false);
    const primitives: unknown[] = [null, undefined, 'EOS_NOT_FOUND', 7];
    expect(primitives.map((v) => v instanceof a.EosError)).toEqual([false, false, false, false]);
    // isEosError still matches on the code alone, as documented.
    expect(a.isEosError({ code: 'EOS_NOT_FOUND' })).toBe(true);
  });

  it('a subclass keeps the ordinary prototype check', async () => {
    const [a, b] = await twoCopies();
    class DeniedError extends a.EosError {}
    const denied = new DeniedError('EOS_PERMISSION_DENIED', 'no');
    expect(denied instanceof DeniedError).toBe(true);
    expect(denied instanceof a.EosError).toBe(true);
    expect(denied instanceof b.EosError).toBe(true);
    expect(new a.EosError('EOS_PERMISSION_DENIED', 'no') instanceof DeniedError).toBe(false);
    expect(new b.EosError('EOS_PERMISSION_DENIED', 'no') instanceof DeniedError).toBe(false);
  });

  it('the brand adds no own or enumerable property: serialised errors are unchanged', async () => {
    const [a] = await twoCopies();
    const err = new a.EosError('EOS_INTERNAL', 'boom', { details: { at: 1 } });
    expect(Object.keys(err).sort()).toEqual(['code', 'details', 'name']);
    expect(Object.getOwnPropertySymbols(err)).toEqual([]);
    expect(JSON.parse(JSON.stringify(err))).toEqual({ name: 'EosError', code: 'EOS_INTERNAL', details: { at: 1 } });
    expect(a.EosError.name).toBe('EosError');
    expect(err.retryable).toBe(false);
  });
});
