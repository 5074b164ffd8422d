import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The packages the supervisor ships and spawns but never imports (see scripts/check-deps.mjs). */
export type AssetPackage = '@everythingos/agent-host' | '@everythingos/ebpf-helper';

/** Absolute path of `dist/bin/<bin>` inside an asset package, as installed next to the supervisor. */
export function assetBin(pkg: AssetPackage, bin: string): string {
  const pkgJson = fileURLToPath(import.meta.resolve(`${pkg}/package.json`));
  return join(dirname(pkgJson), 'dist', 'bin', bin);
}
