// eosd agents add / remove against the built daemon: a package installed from a directory, a
// tarball or a file: spec runs none of its scripts, imports the daemon's SDK, is recorded in the
// audit ledger with the tarball's sha512, survives a daemon restart, and is removed without a trace.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, readdir, readFile, realpath, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { EXAMPLES, fixtureAgent, runEosd, startDaemon, tmpDir, type RunningDaemon } from './helpers/daemon.js';

const ROOT = join(EXAMPLES, '..');
const INSTALLABLE = fixtureAgent('installable');
const MARKERS = ['preinstall', 'install', 'postinstall', 'prepare', 'prepack', 'postpack'].map((e) => `/tmp/eosd-installable-ran-${e}`);
const talker = { id: 'talker', package: fixtureAgent('talker'), tier: 'low' as const };

async function run(cmd: string, args: string[], cwd: string): Promise<string> {
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${code}: ${out}`);
  }
  return out;
}

const sha512 = (b: Buffer): string => `sha512-${createHash('sha512').update(b).digest('base64')}`;

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function eosd(d: RunningDaemon, ...args: string[]): ReturnType<typeof runEosd> {
  return runEosd([...args, '--socket', d.controlSocket], 120_000);
}

async function auditRecords(d: RunningDaemon, kind: string): Promise<{ agent: string; payload: Record<string, unknown> }[]> {
  const r = await runEosd(['ledger', 'query', '--dir', join(d.dir, 's', 'ledger', 'audit'), '--kind', kind]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { agent: string; payload: Record<string, unknown> });
}

async function stopDaemon(d: RunningDaemon): Promise<void> {
  d.client.close();
  d.child.kill('SIGTERM');
  await once(d.child, 'exit');
}

describe('eosd agents add / remove', () => {
  beforeEach(async () => {
    await Promise.all(MARKERS.map((m) => rm(m, { force: true })));
  });

  it('installs a directory with no lifecycle script run, runs it with the daemon SDK, keeps it across a restart, and removes it', { timeout: 120_000 }, async () => {
    const d = await startDaemon({ agents: [talker] });
    const added = await eosd(d, 'agents', 'add', INSTALLABLE, '--start', '--json');
    expect(added.code, added.stderr).toBe(0);
    const info = JSON.parse(added.stdout) as Record<string, string>;
    expect(info).toMatchObject({ id: 'installable', state: 'running', origin: 'installed', packageName: 'fixture-installable', version: '1.2.3' });
    // It receives the talker's events through the bus like any agent.
    await d.out.waitFor((l) => l.agentId === 'installable' && l.msg === 'installed agent received');

    // npm pack of the directory (prepack/postpack) and the install (preinstall/install/postinstall/prepare) ran nothing.
    for (const m of MARKERS) {
      expect(await exists(m), m).toBe(false);
    }
    const installDir = join(d.dir, 's', 'packages', 'installable');
    expect(info.installedPackageDir).toBe(join(installDir, 'package'));
    expect(await realpath(join(installDir, 'package', 'node_modules', '@everythingos', 'sdk'))).toBe(join(ROOT, 'sdk'));

    // The ledger holds the integrity of the tarball that was installed (kept beside the package).
    const tarball = await readFile(join(installDir, 'package.tgz'));
    const [rec] = await auditRecords(d, 'agent.install');
    expect(rec).toMatchObject({ agent: 'installable', payload: { integrity: sha512(tarball), packageName: 'fixture-installable', version: '1.2.3', source: INSTALLABLE } });
    expect(info.integrity).toBe(sha512(tarball));

    // A restarted daemon still has it (and starts it: it was added with --start).
    await stopDaemon(d);
    const d2 = await startDaemon({ agents: [talker] }, { reuseDir: d.dir });
    const after = await d2.client.getAgent('installable');
    expect(after).toMatchObject({ origin: 'installed', integrity: sha512(tarball) });
    await d2.out.waitFor((l) => l.agentId === 'installable' && l.msg === 'installed agent received');

    // Config agents are not eosd agents remove's to remove.
    const refused = await eosd(d2, 'agents', 'remove', 'talker');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('EOS_ILLEGAL_STATE');
    expect((await d2.client.getAgent('talker')).state).toBe('running');

    const removed = await eosd(d2, 'agents', 'remove', 'installable');
    expect(removed.code, removed.stderr).toBe(0);
    expect((await d2.client.listAgents()).map((a) => a.id)).toEqual(['talker']);
    expect(await exists(installDir)).toBe(false);
    expect(JSON.parse(await readFile(join(d.dir, 's', 'installed-agents.json'), 'utf8'))).toEqual({ v: 1, agents: [] });
    const [gone] = await auditRecords(d2, 'agent.remove');
    expect(gone).toMatchObject({ agent: 'installable', payload: { integrity: sha512(tarball) } });
    const again = await eosd(d2, 'agents', 'remove', 'installable');
    expect(again.stderr).toContain('EOS_NOT_FOUND');
  });

  it('installs a tarball and a file: spec; without --start it stays stopped until eosd agents start; ids are unique', { timeout: 120_000 }, async () => {
    const d = await startDaemon({ agents: [talker] });
    const packs = await tmpDir();
    await run('npm', ['pack', '--ignore-scripts', '--pack-destination', packs], INSTALLABLE);
    const tgz = join(packs, 'fixture-installable-1.2.3.tgz');
    const bytes = await readFile(tgz);

    const added = await eosd(d, 'agents', 'add', tgz, '--json');
    expect(added.code, added.stderr).toBe(0);
    expect(JSON.parse(added.stdout)).toMatchObject({ id: 'installable', state: 'stopped', integrity: sha512(bytes) });
    const [rec] = await auditRecords(d, 'agent.install');
    expect(rec?.payload.integrity).toBe(sha512(bytes));

    const dup = await eosd(d, 'agents', 'add', tgz);
    expect(dup.stderr).toContain('EOS_ALREADY_EXISTS');
    const started = await eosd(d, 'agents', 'start', 'installable');
    expect(started.code, started.stderr).toBe(0);
    await d.out.waitFor((l) => l.agentId === 'installable' && l.msg === 'installed agent received');
    expect((await eosd(d, 'agents', 'remove', 'installable')).code).toBe(0);

    const spec = await eosd(d, 'agents', 'add', `file:${tgz}`, '--restart', 'temporary', '--json');
    expect(spec.code, spec.stderr).toBe(0);
    expect(JSON.parse(spec.stdout)).toMatchObject({ id: 'installable', restart: 'temporary', origin: 'installed' });

    // A package claiming a config agent's id is refused, and leaves no files.
    const clash = await eosd(d, 'agents', 'add', fixtureAgent('talker'));
    expect(clash.stderr).toContain('EOS_ALREADY_EXISTS');
    expect(await readdir(join(d.dir, 's', 'packages'))).toEqual(['installable']);
  });

  it('refuses a bad manifest and a tarball with a symlink, leaving nothing behind', { timeout: 60_000 }, async () => {
    const d = await startDaemon({ agents: [talker] });
    const bad = await eosd(d, 'agents', 'add', fixtureAgent('installable-bad'));
    expect(bad.code).toBe(78);
    expect(bad.stderr).toContain('EOS_MANIFEST_INVALID');
    expect(bad.stderr).toContain('tier');
    expect(bad.stderr).not.toContain('.staging-');

    // A symlink entry could point anywhere on the host once extracted as root; it is refused.
    const src = await tmpDir();
    await mkdir(join(src, 'package'));
    await writeFile(join(src, 'package', 'package.json'), await readFile(join(INSTALLABLE, 'package.json')));
    await writeFile(join(src, 'package', 'index.js'), await readFile(join(INSTALLABLE, 'index.js')));
    await symlink('/etc/shadow', join(src, 'package', 'shadow'));
    await run('tar', ['-czf', 'evil.tgz', 'package'], src);
    const evil = await eosd(d, 'agents', 'add', join(src, 'evil.tgz'));
    expect(evil.code).toBe(1);
    expect(evil.stderr).toContain('EOS_PACKAGE_INVALID');
    expect(evil.stderr).toContain('shadow');

    expect(await readdir(join(d.dir, 's', 'packages'))).toEqual([]);
    expect(await exists(join(d.dir, 's', 'installed-agents.json'))).toBe(false);
    expect((await d.client.listAgents()).map((a) => a.id)).toEqual(['talker']);
    expect(await auditRecords(d, 'agent.install')).toEqual([]);
  });

  it('refuses to start when the config file declares an id that is installed', { timeout: 60_000 }, async () => {
    const d = await startDaemon({});
    expect((await eosd(d, 'agents', 'add', INSTALLABLE)).code).toBe(0);
    await stopDaemon(d);
    const d2 = await startDaemon({ agents: [{ id: 'installable', package: INSTALLABLE, tier: 'low' }] }, { reuseDir: d.dir, waitReady: false });
    const [code] = (await once(d2.child, 'exit')) as [number];
    expect(code).toBe(78);
    expect(d2.out.raw).toContain('also installed with eosd agents add');
  });
});
