import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { runNewAgent } from '../src/cli/new-agent.js';

async function tmp(): Promise<string> {
  const dir = await mkdtemp('/tmp/eosd-new-');
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('runNewAgent', () => {
  it('writes the package from flags without asking', async () => {
    const parentDir = await tmp();
    const created = await runNewAgent({ name: 'notes', description: 'Keeps notes for later.', tier: 'medium', parentDir }, undefined, () => {});
    expect(created.dir).toBe(join(parentDir, 'notes'));
    expect((await readdir(created.dir)).sort()).toEqual(['.gitignore', 'README.md', 'eosd.dev.json', 'package.json', 'src', 'test', 'tsconfig.json']);
    const pkg = JSON.parse(await readFile(join(created.dir, 'package.json'), 'utf8')) as { everythingos: { tier: string } };
    expect(pkg.everythingos.tier).toBe('medium');
  });

  it('names every missing flag when it may not ask', async () => {
    const parentDir = await tmp();
    await expect(runNewAgent({ parentDir }, undefined, () => {})).rejects.toMatchObject({
      code: 'EOS_INVALID_ARGUMENT',
      message: expect.stringContaining('missing <name>, --description, --tier'),
    });
  });

  it('asks through the given prompt and refuses a non-empty directory without touching it', async () => {
    const parentDir = await tmp();
    const answers = ['Watches the weather.', 'low'];
    await runNewAgent({ name: 'weather', parentDir }, async () => answers.shift() ?? '', () => {});
    await mkdir(join(parentDir, 'taken'));
    await writeFile(join(parentDir, 'taken', 'keep.txt'), 'mine');
    await expect(
      runNewAgent({ name: 'taken', description: 'Would overwrite things.', tier: 'low', parentDir }, undefined, () => {}),
    ).rejects.toMatchObject({ code: 'EOS_ALREADY_EXISTS' });
    expect(await readdir(join(parentDir, 'taken'))).toEqual(['keep.txt']);
  });
});
