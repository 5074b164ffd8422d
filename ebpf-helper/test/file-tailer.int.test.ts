import { mkdtemp, writeFile, appendFile, rename, rm, symlink, truncate, chmod, mkdir } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { FileTailer } from '../src/file-tailer.js';
import { checkOutputDir } from '../src/check-output-dir.js';

async function tmp(): Promise<string> {
  const dir = await mkdtemp('/tmp/eosd-tail-');
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}
const opts = (path: string, fromStart = false) => ({ path, lineCapBytes: 1024, bufferCapBytes: 4096, readChunkBytes: 64 * 1024, fromStart });
const text = (r: { lines: Buffer[] }): string[] => r.lines.map((b) => b.toString());

describe('FileTailer', () => {
  it('starts at the end of an existing file by default and reads what is appended', async () => {
    const f = join(await tmp(), 'audit_log.jsonl');
    await writeFile(f, 'old1\nold2\n');
    const t = new FileTailer(opts(f));
    expect(text(await t.poll())).toEqual([]);
    await appendFile(f, 'new\n');
    expect(text(await t.poll())).toEqual(['new']);
  });

  it('reads a file that appears later from its start', async () => {
    const f = join(await tmp(), 'a.jsonl');
    const t = new FileTailer(opts(f));
    expect(text(await t.poll())).toEqual([]);
    await writeFile(f, 'first\n');
    expect(text(await t.poll())).toEqual(['first']);
  });

  it('follows rotation by a new inode and by truncation', async () => {
    const dir = await tmp();
    const f = join(dir, 'a.jsonl');
    await writeFile(f, '');
    const t = new FileTailer(opts(f));
    await t.poll();
    await appendFile(f, 'one\ntwo\n');
    expect(text(await t.poll())).toEqual(['one', 'two']);
    await writeFile(join(dir, 'b'), 'x\n');
    await rename(join(dir, 'b'), f); // same size as before would hide it without the inode check
    const r = await t.poll();
    expect(r.rotated).toBe(true);
    expect(text(r)).toEqual(['x']);
    // Truncation is seen when a poll finds the file shorter than the offset (copytruncate).
    await truncate(f, 0);
    expect((await t.poll()).rotated).toBe(true);
    await appendFile(f, 'y\n');
    expect(text(await t.poll())).toEqual(['y']);
  });

  it('refuses a symlink and a FIFO planted in place of the file', async () => {
    const dir = await tmp();
    await writeFile(join(dir, 'secret'), 'root-only\n');
    await symlink(join(dir, 'secret'), join(dir, 'link.jsonl'));
    expect((await new FileTailer(opts(join(dir, 'link.jsonl'), true)).poll()).rejected).toBe('not-regular');
    execFileSync('mkfifo', [join(dir, 'fifo.jsonl')]);
    expect((await new FileTailer(opts(join(dir, 'fifo.jsonl'), true)).poll()).rejected).toBe('not-regular');
  });
});

describe('checkOutputDir', () => {
  it('accepts a 0755 directory and refuses relative, symlinked and group/world-writable ones', async () => {
    const dir = await tmp();
    const gw = join(dir, 'gw');
    await mkdir(gw, { mode: 0o755 });
    await chmod(gw, 0o755);
    await expect(checkOutputDir(gw)).resolves.toBeUndefined();
    await expect(checkOutputDir('relative/dir')).rejects.toMatchObject({ code: 'EOS_CONFIG_INVALID' });
    await symlink(gw, join(dir, 'link'));
    await expect(checkOutputDir(join(dir, 'link'))).rejects.toMatchObject({ code: 'EOS_PERMISSION_DENIED' });
    await chmod(gw, 0o777);
    await expect(checkOutputDir(gw)).rejects.toMatchObject({ code: 'EOS_PERMISSION_DENIED' });
    await chmod(gw, 0o775);
    await expect(checkOutputDir(gw)).rejects.toMatchObject({ code: 'EOS_PERMISSION_DENIED' });
  });
});
