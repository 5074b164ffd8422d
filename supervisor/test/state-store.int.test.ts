import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { StateStore } from '../src/state/state-store.js';

async function dir(): Promise<string> {
  const d = await mkdtemp('/tmp/eosd-state-');
  onTestFinished(() => rm(d, { recursive: true, force: true }));
  return d;
}

describe('StateStore', () => {
  it('persists values across instances and leaves no temp files', async () => {
    const d = await dir();
    const s = new StateStore(d);
    await Promise.all([s.set('a', '1'), s.set('b', '{"x":[1,2]}'), s.set('a', '2')]);
    await s.set('b', undefined);
    expect(await new StateStore(d).get('a')).toBe('2');
    expect(await new StateStore(d).get('b')).toBeUndefined();
    expect(await readdir(d)).toEqual(['state.json']);
    expect(JSON.parse(await readFile(join(d, 'state.json'), 'utf8'))).toEqual({ a: 2 });
  });

  it('rejects bad keys, non-JSON and oversized values without changing the file', async () => {
    const d = await dir();
    const s = new StateStore(d);
    await s.set('k', '"v"');
    expect(() => s.set('', '1')).toThrow(expect.objectContaining({ code: 'EOS_INVALID_ARGUMENT' }));
    expect(() => s.set('k', '{bad')).toThrow(expect.objectContaining({ code: 'EOS_INVALID_ARGUMENT' }));
    expect(() => s.set('k', JSON.stringify('x'.repeat(1024 * 1024)))).toThrow(expect.objectContaining({ code: 'EOS_RESOURCE_EXHAUSTED' }));
    expect(await new StateStore(d).get('k')).toBe('"v"');
  });
});
