import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { chmod, mkdir, mkdtemp, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import semver from 'semver';
import { x as extractTar } from 'tar';
import { EosError, isEosError } from '@everythingos/proto';
import { readAgentPackage, type AgentPackage } from '../manifest/read-agent-package.js';
import { packageLayout } from './installed-agents.js';

/** Largest tarball accepted, bytes (64 MiB; the control server's message limit is set above it). */
export const MAX_TARBALL_BYTES = 64 * 1024 * 1024;
/** Largest unpacked size of a tarball, bytes (a gzip bomb stops here). */
const MAX_UNPACKED_BYTES = 512 * 1024 * 1024;
/** Most entries in a tarball. */
const MAX_ENTRIES = 50_000;
/** The only tar entry types extracted: no links, devices or FIFOs (npm's own extraction keeps only these too). */
const PLAIN_ENTRY_TYPES = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory']);
/** The SDK agents import; always the daemon's own copy, never fetched. */
const SDK_PACKAGE = '@everythingos/sdk';
/** Bytes of npm's output kept for an error message. */
const NPM_OUTPUT_TAIL = 4_000;

/** How registry dependencies are installed. */
export interface NpmOptions {
  /** npm executable. */
  bin: string;
  /** Environment of npm (PATH, HOME, registry settings); scripts are disabled whatever it says. */
  env: NodeJS.ProcessEnv;
  /** npm install is killed after this, ms. */
  timeoutMs: number;
}

/** What {@link installAgentPackage} needs. */
export interface InstallAgentOptions {
  stateDir: string;
  /** The package as `npm pack` writes it. */
  tarball: Buffer;
  /** Real path of the daemon's SDK package; linked as the agent's `@everythingos/sdk`. */
  sdkDir: string;
  /** Version of that SDK. */
  sdkVersion: string;
  npm: NpmOptions;
  log: Logger;
  /**
   * Called with the validated package before its dependencies are installed and it is moved into
   * place; throws to refuse it (an id that is taken).
   */
  accept: (pkg: AgentPackage) => void;
}

/** An installed package, in its final place. */
export interface InstalledPackage {
  pkg: AgentPackage;
  /** SRI sha512 of the tarball. */
  integrity: string;
  packageName: string;
  version: string;
  /** `<stateDir>/packages/<id>`. */
  installDir: string;
  /** Registry dependencies npm installed (name → spec), excluding the SDK. */
  dependencies: Record<string, string>;
}

/** SRI sha512 of `data`, as npm writes `integrity`. */
export function integrityOf(data: Uint8Array): string {
  return `sha512-${createHash('sha512').update(data).digest('base64')}`;
}

/**
 * A dependency spec eosd lets npm fetch: registry specs only (a semver range, a dist-tag or an
 * `npm:` alias of one). git, URL, file, link and GitHub-shorthand specs are refused: they can
 * run code at install (git deps run `prepare`) or bypass the registry's integrity.
 */
function isRegistrySpec(spec: string): boolean {
  let target = spec;
  if (spec.startsWith('npm:')) {
    const alias = /^npm:(?:@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*(?:@(.+))?$/i.exec(spec);
    if (alias === null) {
      return false;
    }
    target = alias[1] ?? 'latest';
  }
  return semver.validRange(target) !== null || /^[a-z][a-z0-9._-]{0,63}$/i.test(target);
}

/**
 * The dependencies npm must fetch for a package.json: `dependencies`, `optionalDependencies` and
 * required `peerDependencies`, minus the SDK (the daemon provides it).
 * @throws EosError `EOS_PACKAGE_INVALID` listing every refused dependency.
 */
export function registryDependencies(pkgJson: Record<string, unknown>, sdkVersion: string): Record<string, string> {
  const out: Record<string, string> = {};
  const problems: string[] = [];
  const peerMeta = (pkgJson.peerDependenciesMeta ?? {}) as Record<string, { optional?: boolean } | undefined>;
  for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies'] as const) {
    const deps = pkgJson[field];
    if (deps === undefined) {
      continue;
    }
    if (deps === null || typeof deps !== 'object' || Array.isArray(deps)) {
      problems.push(`${field} is not an object`);
      continue;
    }
    for (const [name, spec] of Object.entries(deps as Record<string, unknown>)) {
      if (typeof spec !== 'string') {
        problems.push(`${field}.${name} is not a string`);
        continue;
      }
      if (name === SDK_PACKAGE) {
        // workspace:, file: and similar SDK specs come from a source tree; the daemon's SDK is used regardless.
        const range = semver.validRange(spec);
        if (range !== null && !semver.satisfies(sdkVersion, range, { includePrerelease: true })) {
          problems.push(`${field}.${name} is "${spec}"; this eosd provides ${SDK_PACKAGE} ${sdkVersion}`);
        }
        continue;
      }
      if (name.startsWith('@everythingos/')) {
        problems.push(`${field}.${name}: only ${SDK_PACKAGE} may be an @everythingos dependency (eosd provides it; others are never fetched)`);
        continue;
      }
      if (!isRegistrySpec(spec)) {
        problems.push(`${field}.${name} is "${spec}"; only registry versions, ranges and tags are installed (no git, URL, file or link specs)`);
        continue;
      }
      if (field === 'peerDependencies' && peerMeta[name]?.optional === true) {
        continue;
      }
      out[name] ??= spec;
    }
  }
  if (problems.length > 0) {
    throw new EosError('EOS_PACKAGE_INVALID', `package dependencies refused:\n- ${problems.join('\n- ')}`, { details: { problems } });
  }
  return out;
}

async function extract(tarballFile: string, dest: string): Promise<void> {
  const refused: string[] = [];
  let entries = 0;
  let bytes = 0;
  try {
    await extractTar({
      file: tarballFile,
      cwd: dest,
      strip: 1,
      strict: true,
      preserveOwner: false,
      filter: (path, entry) => {
        const type = 'type' in entry ? entry.type : 'File';
        entries += 1;
        bytes += entry.size;
        if (!PLAIN_ENTRY_TYPES.has(type)) {
          refused.push(`${path} (${type})`);
          return false;
        }
        return entries <= MAX_ENTRIES && bytes <= MAX_UNPACKED_BYTES;
      },
    });
  } catch (err) {
    throw new EosError('EOS_PACKAGE_INVALID', `not a valid npm package tarball: ${(err as Error).message}`, { cause: err });
  }
  if (entries > MAX_ENTRIES || bytes > MAX_UNPACKED_BYTES) {
    throw new EosError('EOS_PACKAGE_INVALID', `the tarball unpacks to more than ${MAX_ENTRIES} entries or ${MAX_UNPACKED_BYTES} bytes`);
  }
  if (refused.length > 0) {
    throw new EosError('EOS_PACKAGE_INVALID', `the tarball holds entries that are not plain files or directories: ${refused.slice(0, 10).join(', ')}`, {
      details: { refused },
    });
  }
}

async function runNpmInstall(cwd: string, cacheDir: string, npm: NpmOptions, log: Logger): Promise<void> {
  const args = ['install', '--ignore-scripts', '--omit=dev', '--omit=peer', '--no-audit', '--no-fund', '--no-package-lock', '--no-save', '--install-links=false'];
  const child = spawn(npm.bin, args, {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...npm.env, npm_config_ignore_scripts: 'true', npm_config_update_notifier: 'false', npm_config_cache: cacheDir },
  });
  let output = '';
  const keep = (c: Buffer): void => {
    output = (output + c.toString('utf8')).slice(-NPM_OUTPUT_TAIL);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const timer = setTimeout(() => child.kill('SIGKILL'), npm.timeoutMs);
  try {
    const [code, signal] = (await Promise.race([
      once(child, 'exit'),
      once(child, 'error').then(([err]) => {
        throw err;
      }),
    ])) as [number | null, NodeJS.Signals | null];
    if (code !== 0) {
      throw new Error(`npm install exited ${code ?? `on ${signal ?? 'a signal'}`}:\n${output}`);
    }
    log.debug({ output }, 'npm install done');
  } catch (err) {
    throw new EosError('EOS_PACKAGE_INSTALL_FAILED', `installing the package's dependencies failed: ${(err as Error).message}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return false;
    }
    throw err;
  }
}

/**
 * Installs an agent package from its tarball into `<stateDir>/packages/<id>/`, running none of its
 * code: the tarball is extracted here (plain files and directories only), the manifest is
 * validated, registry dependencies are installed with `npm install --ignore-scripts`, and
 * `@everythingos/sdk` is linked to the daemon's own SDK. Work happens in a staging directory
 * that is renamed into place only when everything succeeded; on any failure it is removed.
 *
 * @throws EosError `EOS_PACKAGE_INVALID`, `EOS_MANIFEST_INVALID`, `EOS_PACKAGE_INSTALL_FAILED`,
 *   or whatever `accept` throws.
 */
export async function installAgentPackage(o: InstallAgentOptions): Promise<InstalledPackage> {
  if (o.tarball.length === 0 || o.tarball.length > MAX_TARBALL_BYTES) {
    throw new EosError('EOS_PACKAGE_INVALID', `a package tarball is 1 to ${MAX_TARBALL_BYTES} bytes; this one is ${o.tarball.length}`);
  }
  const integrity = integrityOf(o.tarball);
  const layout = packageLayout(o.stateDir);
  await mkdir(layout.root, { recursive: true, mode: 0o711 });
  await chmod(layout.root, 0o711);
  const staging = await mkdtemp(join(layout.root, '.staging-'));
  try {
    const tarballFile = join(staging, 'package.tgz');
    await writeFile(tarballFile, o.tarball, { mode: 0o644 });
    const stagedPackage = join(staging, 'package');
    await mkdir(stagedPackage);
    await extract(tarballFile, stagedPackage);
    const staged = await readAgentPackage(stagedPackage).catch((err: unknown) => {
      // Name files as they are in the tarball, not by the staging directory that is about to vanish.
      throw isEosError(err) ? new EosError(err.code, err.message.replaceAll(`${staging}/`, ''), { cause: err }) : err;
    });
    const pkgJson = JSON.parse(await readFile(join(stagedPackage, 'package.json'), 'utf8')) as Record<string, unknown>;
    if (typeof pkgJson.name !== 'string' || typeof pkgJson.version !== 'string') {
      throw new EosError('EOS_MANIFEST_INVALID', 'the package.json of the package has no "name" or no "version"');
    }
    o.accept(staged);
    const dependencies = registryDependencies(pkgJson, o.sdkVersion);
    if (Object.keys(dependencies).length > 0) {
      await writeFile(join(staging, 'package.json'), JSON.stringify({ name: `eosd-agent-${staged.manifest.id}-deps`, private: true, dependencies }, null, 2), {
        mode: 0o644,
      });
      // The cache lives in the state dir: under systemd's ProtectSystem=strict, HOME is not writable.
      await runNpmInstall(staging, join(o.stateDir, 'npm-cache'), o.npm, o.log);
    }
    const sdkLink = join(stagedPackage, 'node_modules', SDK_PACKAGE);
    await rm(sdkLink, { recursive: true, force: true });
    await mkdir(dirname(sdkLink), { recursive: true });
    await symlink(o.sdkDir, sdkLink, 'dir');
    await chmod(staging, 0o755);
    const installDir = layout.installDir(staged.manifest.id);
    if (await exists(installDir)) {
      // Not registered (accept() checked): what a crash between rename and registration left behind.
      o.log.warn({ installDir }, 'removing an unregistered leftover install directory');
      await rm(installDir, { recursive: true, force: true });
    }
    await rename(staging, installDir);
    const pkg = await readAgentPackage(layout.packageDir(staged.manifest.id));
    return { pkg, integrity, packageName: pkgJson.name, version: pkgJson.version, installDir, dependencies };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
