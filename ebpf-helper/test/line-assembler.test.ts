import { describe, expect, it } from 'vitest';
import { LineAssembler } from '../src/line-assembler.js';

const text = (bs: Buffer[]): string[] => bs.map((b) => b.toString('utf8'));

describe('LineAssembler', () => {
  it('keeps a multi-byte UTF-8 character that is split across two reads intact', () => {
    const la = new LineAssembler(1024, 4096);
    const line = Buffer.from('{"reason":"héllo ✓ 𝄞"}\n', 'utf8');
    const cut = line.indexOf(Buffer.from('𝄞')) + 2; // inside the 4-byte character
    expect(la.push(line.subarray(0, cut)).lines).toEqual([]);
    expect(text(la.push(line.subarray(cut)).lines)).toEqual(['{"reason":"héllo ✓ 𝄞"}']);
  });

  it('splits several lines in one chunk and holds the partial tail', () => {
    const la = new LineAssembler(1024, 4096);
    const r = la.push(Buffer.from('a\nbb\ncc'));
    expect(text(r.lines)).toEqual(['a', 'bb']);
    expect(la.pendingBytes).toBe(2);
    expect(text(la.push(Buffer.from('c\n')).lines)).toEqual(['ccc']);
  });

  it('drops a complete line over the line cap (in bytes, not UTF-16 units) and keeps the next one', () => {
    const la = new LineAssembler(8, 4096);
    const r = la.push(Buffer.from('ééééé\nok\n', 'utf8')); // 5 chars, 10 bytes
    expect(r.oversized).toBe(1);
    expect(text(r.lines)).toEqual(['ok']);
  });

  it('past the buffer cap skips to the next newline, then recovers (4 MB line with no newline)', () => {
    const la = new LineAssembler(64 * 1024, 1024 * 1024);
    const blob = Buffer.alloc(1024 * 1024, 0x61);
    let skipped = 0;
    for (let i = 0; i < 4; i++) {
      const r = la.push(blob);
      expect(r.lines).toEqual([]);
      skipped += r.skippedBytes;
    }
    expect(la.pendingBytes).toBe(0);
    const r = la.push(Buffer.from('tail-of-blob\n{"good":1}\n'));
    expect(text(r.lines)).toEqual(['{"good":1}']);
    expect(skipped + r.skippedBytes).toBe(4 * 1024 * 1024 + 'tail-of-blob\n'.length);
  });

  it('reset() forgets a partial line (rotation)', () => {
    const la = new LineAssembler(1024, 4096);
    la.push(Buffer.from('partial'));
    la.reset();
    expect(text(la.push(Buffer.from('new\n')).lines)).toEqual(['new']);
  });
});
