// Publishability: the packages as `pnpm pack` ships them, installed with npm OUTSIDE the workspace
// (third-party dependencies come from the registry), must let an author generate, build, test and
// run an agent. Catches missing `files`, broken `exports`/`types`/`bin` and unrewritten workspace: specs.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { EXAMPLES, OutputCollector } from './helpers/daemon.js';

const ROOT = join(EXAMPLES, '..');
const PACKAGES = ['proto', 'sdk', 'agent-host', 'ebpf-helper', 'supervisor'] as const;

/** The environment without what a package manager running this test injects (npm_config_*, NODE_PATH). */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_') && k !== 'NODE_PATH' && k !== 'PNPM_SCRIPT_SRC_DIR'));
}

async function run(cmd: string, args: string[], cwd: string, timeoutMs = 120_000): Promise<string> {
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...cleanEnv(), CI: 'true' } });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  if (code !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} (in ${cwd}) exited ${code}:\n${out.slice(-8000)}`);
  }
  return out;
}

const npmInstall = (cwd: string, specs: string[]): Promise<string> =>
  run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--prefer-offline', ...specs], cwd);

describe('packaging', () => {
  it('packed packages install outside the workspace; a generated agent builds, passes its test and runs under the packed eosd', { timeout: 180_000 }, async () => {
    const dir = await mkdtemp('/tmp/eosd-pack-');
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await chmod(dir, 0o711); // as root, agents run under other uids and must traverse it
    const tarballs = join(dir, 't');
    await mkdir(tarballs);
    for (const p of PACKAGES) {
      await run('pnpm', ['pack', '--pack-destination', tarballs], join(ROOT, p));
    }
    const tgz = Object.fromEntries(PACKAGES.map((p) => [p, join(tarballs, `everythingos-${p}-0.1.0.tgz`)]));
    expect((await readdir(tarballs)).sort()).toEqual(Object.values(tgz).map((f) => f.slice(tarballs.length + 1)).sort());

    // The published manifests carry real versions, exports and types, and no workspace: specs.
    for (const p of PACKAGES) {
      const pkgJson = await run('tar', ['-xzOf', tgz[p]!, 'package/package.json'], dir);
      expect(pkgJson).not.toContain('workspace:');
      const pkg = JSON.parse(pkgJson) as { exports?: object; files?: string[] };
      expect(pkg.exports).toBeDefined();
      const listing = await run('tar', ['-tzf', tgz[p]!], dir);
      expect(listing).not.toMatch(/\.tsbuildinfo|\/test\/|\/src\//);
    }

    // The CLI, installed from its tarball, generates the agent package.
    const tools = join(dir, 'tools');
    await mkdir(tools);
    await run('npm', ['init', '-y'], tools);
    await npmInstall(tools, [tgz.proto!, tgz['agent-host']!, tgz['ebpf-helper']!, tgz.sdk!, tgz.supervisor!]);
    await run(
      join(tools, 'node_modules', '.bin', 'eosd'),
      ['new', 'hello', '--description', 'Says hello back to everyone.', '--tier', 'low', '--dir', dir, '--sdk', `file:${tgz.sdk}`, '--supervisor', `file:${tgz.supervisor}`],
      dir,
    );
    const agent = join(dir, 'hello');

    // proto, agent-host and ebpf-helper are not on the registry yet: give npm their tarballs for the transitive deps.
    await npmInstall(agent, [tgz.proto!, tgz['agent-host']!, tgz['ebpf-helper']!]);
    await run(process.execPath, [join(agent, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], agent);
    expect(await readFile(join(agent, 'dist', 'index.d.ts'), 'utf8')).toContain('extends Agent');
    // Its own test uses @everythingos/sdk/testing from the tarball against the packed eosd.
    expect(await run(process.execPath, [join(agent, 'node_modules', 'vitest', 'vitest.mjs'), 'run'], agent)).toMatch(/2 passed/);

    // And it runs under the packed daemon.
    const eosd = join(agent, 'node_modules', '.bin', 'eosd');
    const daemon = spawn(eosd, ['start', '--dev', '--config', 'eosd.dev.json'], { cwd: agent, stdio: ['ignore', 'pipe', 'pipe'], env: cleanEnv() });
    const out = new OutputCollector(daemon);
    onTestFinished(async () => {
      if (daemon.exitCode === null && daemon.signalCode === null) {
        daemon.kill('SIGTERM');
        await once(daemon, 'exit');
      }
    });
    await out.waitFor((l) => l.msg === 'supervisor ready', 30_000);
    const ls = JSON.parse(await run(eosd, ['agents', 'ls', '--json', '--config', 'eosd.dev.json'], agent)) as { id: string; state: string }[];
    expect(ls).toMatchObject([{ id: 'hello', state: 'running' }]);
    await out.waitFor((l) => l.agentId === 'hello' && l.msg === 'started');
    daemon.kill('SIGTERM');
    const [code] = (await once(daemon, 'exit')) as [number | null];
    expect(code).toBe(0);
  });
});
