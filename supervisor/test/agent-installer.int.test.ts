import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile, link } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import { EosError } from '@everythingos/proto';
import { installAgentPackage, integrityOf, type InstallAgentOptions } from '../src/packages/agent-installer.js';
import { InstalledAgents } from '../src/packages/installed-agents.js';

const SDK_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'sdk');
const log = pino({ level: 'silent' });

async function dir(): Promise<string> {
  const d = await mkdtemp('/tmp/eosd-inst-');
  onTestFinished(() => rm(d, { recursive: true, force: true }));
  return d;
}

const manifest = (id: string): Record<string, unknown> => ({
  id,
  name: 'Fixture',
  version: '1.0.0',
  description: 'An agent package built by the installer test.',
  tier: 'low',
  publish: [],
  subscribe: [],
});

/** Writes package/ under `src` and tars it with the system tar (extra entries via `prepare`). */
async function tarball(pkg: Record<string, unknown>, prepare?: (pkgDir: string) => Promise<void>, names = ['package']): Promise<Buffer> {
  const src = await dir();
  const pkgDir = join(src, 'package');
  await mkdir(pkgDir);
  await writeFile(join(pkgDir, 'package.json'), JSON.stringify(pkg));
  await writeFile(join(pkgDir, 'index.js'), 'export default class {}\n');
  await prepare?.(pkgDir);
  execFileSync('tar', ['-czPf', 'p.tgz', ...names], { cwd: src });
  return readFile(join(src, 'p.tgz'));
}

function options(stateDir: string, tgz: Buffer, over: Partial<InstallAgentOptions> = {}): InstallAgentOptions {
  return {
    stateDir,
    tarball: tgz,
    sdkDir: SDK_DIR,
    sdkVersion: '0.1.0',
    npm: { bin: 'false', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, timeoutMs: 10_000 },
    log,
    accept: () => undefined,
    ...over,
  };
}

async function rejection(p: Promise<unknown>): Promise<EosError> {
  try {
    await p;
  } catch (err) {
    return err as EosError;
  }
  throw new Error('expected a rejection');
}

const pkgJson = (id: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  name: `fixture-${id}`,
  version: '1.0.0',
  type: 'module',
  main: 'index.js',
  everythingos: manifest(id),
  ...extra,
});

describe('installAgentPackage', () => {
  it('extracts into <stateDir>/packages/<id>, keeps the tarball, links the daemon SDK and returns its integrity', async () => {
    const state = await dir();
    const tgz = await tarball(pkgJson('inst-ok'));
    const r = await installAgentPackage(options(state, tgz));
    expect(r).toMatchObject({ integrity: integrityOf(tgz), packageName: 'fixture-inst-ok', version: '1.0.0', installDir: join(state, 'packages', 'inst-ok'), dependencies: {} });
    expect(r.pkg.manifest.id).toBe('inst-ok');
    expect(await readFile(join(state, 'packages', 'inst-ok', 'package.tgz'))).toEqual(tgz);
    expect(await readlink(join(state, 'packages', 'inst-ok', 'package', 'node_modules', '@everythingos', 'sdk'))).toBe(SDK_DIR);
    expect(await readdir(join(state, 'packages'))).toEqual(['inst-ok']);
  });

  it('runs npm install --ignore-scripts for registry dependencies in the install root', async () => {
    const state = await dir();
    const argsFile = join(state, 'npm-args');
    const fakeNpm = join(state, 'fake-npm.sh');
    await writeFile(fakeNpm, `#!/bin/sh\necho "$@ ignore=$npm_config_ignore_scripts" > ${argsFile}\n`, { mode: 0o755 });
    const tgz = await tarball(pkgJson('inst-deps', { dependencies: { 'left-pad': '1.3.0', '@everythingos/sdk': '^0.1.0' } }));
    const r = await installAgentPackage(options(state, tgz, { npm: { bin: fakeNpm, env: {}, timeoutMs: 10_000 } }));
    expect(r.dependencies).toEqual({ 'left-pad': '1.3.0' });
    expect(await readFile(argsFile, 'utf8')).toMatch(/^install --ignore-scripts --omit=dev .* ignore=true\n$/);
    expect(JSON.parse(await readFile(join(r.installDir, 'package.json'), 'utf8'))).toMatchObject({ private: true, dependencies: { 'left-pad': '1.3.0' } });
  });

  it('fails with EOS_PACKAGE_INSTALL_FAILED when npm fails, leaving nothing behind', async () => {
    const state = await dir();
    const tgz = await tarball(pkgJson('inst-npm', { dependencies: { 'left-pad': '1.3.0' } }));
    const err = await rejection(installAgentPackage(options(state, tgz)));
    expect(err).toMatchObject({ code: 'EOS_PACKAGE_INSTALL_FAILED' });
    expect(await readdir(join(state, 'packages'))).toEqual([]);
  });

  it('refuses hard links, symlinks and paths escaping the package, leaving nothing behind', async () => {
    const state = await dir();
    const hard = await tarball(pkgJson('inst-hard'), (d) => link(join(d, 'index.js'), join(d, 'again.js')));
    expect(await rejection(installAgentPackage(options(state, hard)))).toMatchObject({ code: 'EOS_PACKAGE_INVALID', message: expect.stringContaining('Link') });
    const soft = await tarball(pkgJson('inst-soft'), (d) => symlink('/etc/passwd', join(d, 'passwd')));
    expect(await rejection(installAgentPackage(options(state, soft)))).toMatchObject({ code: 'EOS_PACKAGE_INVALID', message: expect.stringContaining('SymbolicLink') });
    const escape = await tarball(
      pkgJson('inst-esc'),
      async (d) => {
        await mkdir(join(d, 'x'));
        await writeFile(join(d, '..', 'outside.txt'), 'escaped');
      },
      ['package', 'package/x/../../outside.txt'],
    );
    expect(await rejection(installAgentPackage(options(state, escape)))).toMatchObject({ code: 'EOS_PACKAGE_INVALID', message: expect.stringContaining('..') });
    expect(await readdir(join(state, 'packages'))).toEqual([]);
    expect(await readdir(state)).toEqual(['packages']);
  });

  it('refuses what is not a gzipped tarball, an empty one, and a package without a manifest', async () => {
    const state = await dir();
    expect(await rejection(installAgentPackage(options(state, Buffer.from('not a tarball at all'))))).toMatchObject({ code: 'EOS_PACKAGE_INVALID' });
    expect(await rejection(installAgentPackage(options(state, Buffer.alloc(0))))).toMatchObject({ code: 'EOS_PACKAGE_INVALID' });
    const noManifest = await tarball({ name: 'plain', version: '1.0.0' });
    const err = await rejection(installAgentPackage(options(state, noManifest)));
    expect(err).toMatchObject({ code: 'EOS_MANIFEST_INVALID' });
    expect(err.message).toBe('package/package.json has no "everythingos" manifest field');
    expect(await readdir(join(state, 'packages'))).toEqual([]);
  });

  it('stops before installing anything when accept refuses the package', async () => {
    const state = await dir();
    const tgz = await tarball(pkgJson('inst-taken'));
    const err = await rejection(
      installAgentPackage(
        options(state, tgz, {
          accept: (pkg) => {
            throw new EosError('EOS_ALREADY_EXISTS', `${pkg.manifest.id} is taken`);
          },
        }),
      ),
    );
    expect(err).toMatchObject({ code: 'EOS_ALREADY_EXISTS', message: 'inst-taken is taken' });
    expect(await readdir(join(state, 'packages'))).toEqual([]);
  });
});

describe('InstalledAgents', () => {
  const rec = {
    id: 'a1',
    packageName: 'a1',
    version: '1.0.0',
    integrity: integrityOf(Buffer.from('x')),
    source: '/src/a1',
    installedAtMs: 1,
    tier: 'low' as const,
    autostart: false,
    restart: 'transient' as const,
  };

  it('starts empty, persists additions and removals, and gives specs with config defaults', async () => {
    const state = await dir();
    const a = await InstalledAgents.open(state);
    expect(a.list()).toEqual([]);
    await a.add(rec);
    const b = await InstalledAgents.open(state);
    expect(b.get('a1')).toEqual(rec);
    expect(b.specs()[0]).toMatchObject({ id: 'a1', package: join(state, 'packages', 'a1', 'package'), tier: 'low', autostart: false, restart: 'transient', startTimeoutMs: 10_000 });
    await b.remove('a1');
    expect((await InstalledAgents.open(state)).list()).toEqual([]);
  });

  it('refuses a file that is not JSON or not valid with EOS_CONFIG_INVALID', async () => {
    const state = await dir();
    await writeFile(join(state, 'installed-agents.json'), '{');
    await expect(InstalledAgents.open(state)).rejects.toMatchObject({ code: 'EOS_CONFIG_INVALID' });
    await writeFile(join(state, 'installed-agents.json'), JSON.stringify({ v: 1, agents: [{ ...rec, integrity: 'md5-x' }] }));
    await expect(InstalledAgents.open(state)).rejects.toMatchObject({ code: 'EOS_CONFIG_INVALID' });
  });
});
