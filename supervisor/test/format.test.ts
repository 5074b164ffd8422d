import { describe, expect, it } from 'vitest';
import { formatBytes, formatUptime, renderTable } from '../src/cli/format.js';

describe('CLI formatting', () => {
  it('formats uptimes and sizes compactly', () => {
    expect([0, 5_000, 185_000, 3_720_000, 200 * 3_600_000].map(formatUptime)).toEqual(['-', '5s', '3m05s', '1h02m', '8d']);
    expect([0, 512, 2048, 68 * 1024 * 1024].map(formatBytes)).toEqual(['-', '512 B', '2.0 KiB', '68.0 MiB']);
  });

  it('aligns table columns', () => {
    expect(renderTable(['A', 'BB'], [['xyz', '1'], ['q', '22']])).toMatchInlineSnapshot(`
      "A    BB
      xyz  1
      q    22"
    `);
  });
});
