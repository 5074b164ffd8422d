import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EosError } from '@everythingos/proto';

/** A package ready to hand to the daemon. */
export interface PackedSource {
  tarball: Buffer;
  /** What was named, made absolute when it is a path; recorded in the ledger. */
  source: string;
  /** How it was obtained. */
  kind: 'directory' | 'tarball' | 'npm-spec';
}

/** How the CLI runs npm. */
export interface PackOptions {
  /** Directory relative paths and `file:` specs resolve against. */
  cwd: string;
  /** Environment of npm. */
  env: NodeJS.ProcessEnv;
  /** npm executable. @defaultValue npm (from PATH) */
  npmBin?: string;
}

/** Bytes of npm's output kept for an error message. */
const NPM_OUTPUT_TAIL = 4_000;
/** npm pack is killed after this, ms (a registry fetch may be slow). */
const NPM_PACK_TIMEOUT_MS = 300_000;

async function kindOf(path: string): Promise<'directory' | 'file' | undefined> {
  try {
    const st = await stat(path);
    return st.isDirectory() ? 'directory' : st.isFile() ? 'file' : undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') {
      return undefined;
    }
    throw err;
  }
}

async function npmPack(args: string[], cwd: string, o: PackOptions): Promise<Buffer> {
  const dest = await mkdtemp(join(tmpdir(), 'eosd-pack-'));
  try {
    const child = spawn(o.npmBin ?? 'npm', ['pack', ...args, '--ignore-scripts', '--pack-destination', dest], {
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...o.env, npm_config_ignore_scripts: 'true', npm_config_update_notifier: 'false' },
    });
    let output = '';
    const keep = (c: Buffer): void => {
      output = (output + c.toString('utf8')).slice(-NPM_OUTPUT_TAIL);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setTimeout(() => child.kill('SIGKILL'), NPM_PACK_TIMEOUT_MS);
    let code: number | null;
    try {
      [code] = (await Promise.race([
        once(child, 'exit'),
        once(child, 'error').then(([err]) => {
          throw err;
        }),
      ])) as [number | null];
    } catch (err) {
      throw new EosError('EOS_PACKAGE_INSTALL_FAILED', `cannot run npm: ${(err as Error).message}`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
    if (code !== 0) {
      throw new EosError('EOS_PACKAGE_INSTALL_FAILED', `npm pack ${args.join(' ')} failed (exit ${code}):\n${output}`);
    }
    const files = (await readdir(dest)).filter((f) => f.endsWith('.tgz'));
    if (files.length !== 1) {
      throw new EosError('EOS_PACKAGE_INSTALL_FAILED', `npm pack ${args.join(' ')} wrote ${files.length} tarballs; expected one`);
    }
    return await readFile(join(dest, files[0] as string));
  } finally {
    await rm(dest, { recursive: true, force: true });
  }
}

/**
 * Turns what the operator named into a package tarball, running none of the package's scripts:
 * a directory is packed (`npm pack --ignore-scripts`, so `prepack`/`prepare` do not run: build the
 * package first), an existing file is read as a tarball, anything else is an npm spec
 * (`name@range`, `file:…`, a URL) fetched with `npm pack`.
 * @throws EosError `EOS_PACKAGE_INSTALL_FAILED` when npm fails, `EOS_INVALID_ARGUMENT` for an empty or option-like source.
 */
export async function packSource(source: string, o: PackOptions): Promise<PackedSource> {
  const path = resolve(o.cwd, source);
  const kind = await kindOf(path);
  if (kind === 'directory') {
    return { tarball: await npmPack([], path, o), source: path, kind: 'directory' };
  }
  if (kind === 'file') {
    return { tarball: await readFile(path), source: path, kind: 'tarball' };
  }
  if (source.startsWith('-') || source.trim() === '') {
    throw new EosError('EOS_INVALID_ARGUMENT', `"${source}" is neither an existing path nor an npm spec`);
  }
  return { tarball: await npmPack([source], o.cwd, o), source, kind: 'npm-spec' };
}
