import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { parseManifest } from '@everythingos/proto';
import { EOSD_BIN, EXAMPLES, runEosd, tmpDir } from './helpers/daemon.js';

const ROOT = join(EXAMPLES, '..');

async function run(cmd: string, args: string[], cwd: string, timeoutMs = 90_000): Promise<{ code: number | null; out: string }> {
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: 'true', NODE_PATH: '' } });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  return { code, out };
}

/** Gives a generated package the workspace's packages and tools, as `npm install` would from a registry. */
async function linkWorkspaceDeps(dir: string): Promise<void> {
  const links: [string, string][] = [
    ['@everythingos/sdk', join(ROOT, 'sdk')],
    ['@everythingos/supervisor', join(ROOT, 'supervisor')],
    ['typescript', join(ROOT, 'node_modules', 'typescript')],
    ['vitest', join(ROOT, 'node_modules', 'vitest')],
    ['@types/node', join(ROOT, 'node_modules', '@types', 'node')],
  ];
  for (const [name, target] of links) {
    await mkdir(join(dir, 'node_modules', name, '..'), { recursive: true });
    await symlink(target, join(dir, 'node_modules', name), 'dir');
  }
}

describe('eosd new', () => {
  it('generates an agent package that builds and whose test passes under a real eosd', async () => {
    const parent = await tmpDir();
    const r = await runEosd(['new', 'greeter', '--description', 'Greets whoever says hello.', '--tier', 'medium', '--dir', parent, '--sdk', 'file:../sdk.tgz', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const created = JSON.parse(r.stdout) as { dir: string; files: string[] };
    expect(created.dir).toBe(join(parent, 'greeter'));

    const pkg = JSON.parse(await readFile(join(created.dir, 'package.json'), 'utf8')) as { everythingos: unknown; dependencies: object };
    expect(parseManifest(pkg.everythingos, 'generated')).toMatchObject({ id: 'greeter', tier: 'medium' });
    expect(pkg.dependencies).toEqual({ '@everythingos/sdk': 'file:../sdk.tgz' });

    await linkWorkspaceDeps(created.dir);
    const build = await run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], created.dir);
    expect(build.out).toBe('');
    expect(build.code).toBe(0);
    const test = await run(process.execPath, [join(ROOT, 'node_modules', 'vitest', 'vitest.mjs'), 'run'], created.dir);
    expect(test.out).toMatch(/2 passed/);
    expect(test.code).toBe(0);
  });

  it('refuses an existing non-empty directory and invalid input without prompting when stdin is not a terminal', async () => {
    const parent = await tmpDir();
    const args = ['new', 'twice', '--description', 'Created two times.', '--tier', 'low', '--dir', parent];
    expect((await runEosd(args)).code).toBe(0);
    const again = await runEosd(args);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/EOS_ALREADY_EXISTS: .*twice exists and is not empty/);
    const missing = await runEosd(['new', 'quiet', '--dir', parent]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/EOS_INVALID_ARGUMENT: missing --description, --tier/);
  });

  const hasScript = spawnSync('script', ['--version']).status === 0;
  if (!hasScript && process.env.CI === 'true') {
    throw new Error('the interactive eosd new test needs script(1) (bsdutils) to get a terminal; .ci/run installs it');
  }
  it.skipIf(!hasScript)('asks for what is missing on a terminal, re-asks after an invalid answer and keeps typed-ahead lines', async () => {
    const parent = await tmpDir();
    // script(1) gives eosd a pseudo-terminal, so stdin.isTTY is true as for a person typing.
    const child = spawn('script', ['-qec', `${process.execPath} ${EOSD_BIN} new --dir ${parent}`, '/dev/null'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const exited = once(child, 'exit'); // script may exit as soon as eosd does: listen before anything else
    onTestFinished(() => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
      }
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stdin.write('door-opener\nshort\nOpens the garage door.\nhigh\nIt moves a real door.\n');
    await expect.poll(() => out, { timeout: 20_000 }).toMatch(/next: cd /);
    child.stdin.end();
    await exited;
    expect(out).toContain('the description needs at least 10 characters');
    expect(out).toContain('Why does it need the high tier?');
    const pkg = JSON.parse(await readFile(join(parent, 'door-opener', 'package.json'), 'utf8')) as { everythingos: unknown };
    expect(parseManifest(pkg.everythingos, 'generated')).toMatchObject({
      id: 'door-opener',
      description: 'Opens the garage door.',
      tier: 'high',
      riskJustification: 'It moves a real door.',
    });
  });
});
