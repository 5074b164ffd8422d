import { lstat, readFile, realpath } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** The largest package.json read while walking dependencies, bytes. */
const MAX_PACKAGE_JSON_BYTES = 1024 * 1024;

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') {
      return false;
    }
    throw err;
  }
}

async function dependencyNames(pkgDir: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(join(pkgDir, 'package.json'), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return [];
    }
    throw err;
  }
  if (text.length > MAX_PACKAGE_JSON_BYTES) {
    throw new Error(`${pkgDir}/package.json is larger than ${MAX_PACKAGE_JSON_BYTES} bytes`);
  }
  const pkg = JSON.parse(text) as Record<string, unknown>;
  const names = new Set<string>();
  for (const field of ['dependencies', 'optionalDependencies', 'peerDependencies']) {
    const deps = pkg[field];
    if (deps !== null && typeof deps === 'object') {
      for (const name of Object.keys(deps)) {
        names.add(name);
      }
    }
  }
  return [...names];
}

/**
 * Finds where Node's resolver finds `name` from a file in `pkgDir`: the first
 * `<ancestor>/node_modules/<name>` that exists, or null.
 */
async function locate(pkgDir: string, name: string): Promise<string | null> {
  for (let d = pkgDir; ; d = dirname(d)) {
    if (!d.endsWith('/node_modules')) {
      const hit = join(d, 'node_modules', name);
      if (await exists(hit)) {
        return hit;
      }
    }
    if (d === dirname(d)) {
      return null;
    }
  }
}

/**
 * The minimal set of host directories a sandbox must show (read-only, at the same paths) for
 * Node to load the given packages and everything they depend on: each package's real directory,
 * and each directory holding the link Node's resolver follows to a dependency (for pnpm a
 * `node_modules` or scope directory of symlinks, or a `.pnpm/<pkg>@<v>/node_modules` directory
 * whose siblings are that package's own dependencies). Dependencies are the declared
 * `dependencies`, `optionalDependencies` and `peerDependencies`; missing optional or peer
 * dependencies are skipped. Directories inside another listed directory are dropped.
 *
 * @param roots package directories (holding package.json) to start from.
 * @param implicitDependencies resolved from every root as if declared there (agents import
 *   `@everythingos/sdk`, which a package inside a workspace often finds only through an ancestor).
 * @returns absolute real paths, sorted, none inside another.
 */
export async function packageClosure(roots: readonly string[], implicitDependencies: readonly string[] = []): Promise<string[]> {
  const dirs = new Set<string>();
  const seen = new Set<string>();
  const queue: string[] = [];
  const rootSet = new Set<string>();
  for (const r of roots) {
    const real = await realpath(r);
    rootSet.add(real);
    queue.push(real);
  }
  while (queue.length > 0) {
    const pkgDir = queue.pop() as string;
    if (seen.has(pkgDir)) {
      continue;
    }
    seen.add(pkgDir);
    dirs.add(pkgDir);
    const names = await dependencyNames(pkgDir);
    if (rootSet.has(pkgDir)) {
      names.push(...implicitDependencies.filter((n) => !names.includes(n)));
    }
    for (const name of names) {
      const hit = await locate(pkgDir, name);
      if (hit === null) {
        continue;
      }
      dirs.add(await realpath(dirname(hit)));
      queue.push(await realpath(hit));
    }
  }
  const sorted = [...dirs].sort();
  return sorted.filter((d) => !sorted.some((o) => o !== d && d.startsWith(`${o}/`)));
}
