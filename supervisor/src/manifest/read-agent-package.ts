import { readFile, realpath, stat } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { EosError, parseManifest, type AgentManifest } from '@everythingos/proto';

/** An agent package as the supervisor knows it: read as data, never executed here. */
export interface AgentPackage {
  /** Real path of the package directory. */
  dir: string;
  /** Real path of the module agent-host imports. */
  entryPath: string;
  manifest: AgentManifest;
  /** package.json `name`. */
  packageName: string;
}

/** The largest package.json read, bytes. */
const MAX_PACKAGE_JSON_BYTES = 1024 * 1024;

function entryFromExports(exportsField: unknown): string | undefined {
  if (typeof exportsField === 'string') {
    return exportsField;
  }
  if (exportsField === null || typeof exportsField !== 'object') {
    return undefined;
  }
  const root = (exportsField as Record<string, unknown>)['.'] ?? exportsField;
  if (typeof root === 'string') {
    return root;
  }
  if (root !== null && typeof root === 'object') {
    const conds = root as Record<string, unknown>;
    for (const key of ['node', 'import', 'default']) {
      const v = conds[key];
      if (typeof v === 'string') {
        return v;
      }
    }
  }
  return undefined;
}

/**
 * Reads `package.json` of an agent package, validates its `everythingos` manifest and finds its
 * entry module, without running any of its code.
 * @throws EosError `EOS_MANIFEST_INVALID` with every problem of the manifest, or when the package
 *   cannot be read or its entry is missing or outside the package.
 */
export async function readAgentPackage(packagePath: string): Promise<AgentPackage> {
  let dir: string;
  try {
    dir = await realpath(packagePath);
  } catch (err) {
    throw new EosError('EOS_MANIFEST_INVALID', `agent package ${packagePath} does not exist`, { cause: err });
  }
  const pkgFile = join(dir, 'package.json');
  let pkg: Record<string, unknown>;
  try {
    const st = await stat(pkgFile);
    if (st.size > MAX_PACKAGE_JSON_BYTES) {
      throw new Error(`package.json is ${st.size} bytes; the limit is ${MAX_PACKAGE_JSON_BYTES}`);
    }
    const parsed: unknown = JSON.parse(await readFile(pkgFile, 'utf8'));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new Error('package.json is not a JSON object');
    }
    pkg = parsed as Record<string, unknown>;
  } catch (err) {
    throw new EosError('EOS_MANIFEST_INVALID', `cannot read ${pkgFile}: ${(err as Error).message}`, { cause: err });
  }
  if (pkg.everythingos === undefined) {
    throw new EosError('EOS_MANIFEST_INVALID', `${pkgFile} has no "everythingos" manifest field`);
  }
  const manifest = parseManifest(pkg.everythingos, pkgFile);
  if (typeof pkg.version === 'string' && pkg.version !== manifest.version) {
    throw new EosError(
      'EOS_MANIFEST_INVALID',
      `invalid agent manifest (${pkgFile}): version ${manifest.version} differs from the package version ${pkg.version}`,
    );
  }
  const entry = entryFromExports(pkg.exports) ?? (typeof pkg.main === 'string' ? pkg.main : 'index.js');
  let entryPath: string;
  try {
    entryPath = await realpath(resolve(dir, entry));
  } catch (err) {
    throw new EosError('EOS_MANIFEST_INVALID', `entry ${entry} of ${pkgFile} does not exist (build the package first?)`, {
      cause: err,
    });
  }
  const rel = relative(dir, entryPath);
  if (rel.startsWith(`..${sep}`) || rel === '..') {
    throw new EosError('EOS_MANIFEST_INVALID', `entry ${entry} of ${pkgFile} resolves outside the package`);
  }
  return { dir, entryPath, manifest, packageName: typeof pkg.name === 'string' ? pkg.name : manifest.id };
}
