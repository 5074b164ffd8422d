import { stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { assetBin } from '../asset-bin.js';

/** Which agent-host script the supervisor runs in each sandbox. */
export interface AgentHostScript {
  /** Absolute path of the script given to node. */
  path: string;
  /** True for the one-file bundle (`dist/bundle/agent-host.{cjs,mjs}`), false for the module tree (`dist/bin/agent-host.js`). */
  bundled: boolean;
  /** True for the code-cached start `dist/bundle/agent-host.cjs` (takes `--code-cache=<file>`). */
  codeCacheable: boolean;
  /** The agent-host package directory (the bundle lives inside it). */
  packageDir: string;
}

async function mtimeMs(path: string): Promise<number | null> {
  try {
    return (await stat(path)).mtimeMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      return null;
    }
    throw err;
  }
}

/**
 * Picks agent-host's one-file bundle when it exists and is not older than the compiled code it
 * was made from (the `dist/.tsbuildinfo` of agent-host, proto and sdk, where present: a plain
 * `tsc -b` after a change leaves an old bundle behind), else the compiled module tree. Both run
 * the same code; the bundle starts faster and uses less memory (docs/performance.md, P5/P6). Of the
 * bundle, the code-cached CommonJS start (`agent-host.cjs`) is preferred when it was built.
 */
export async function resolveAgentHostScript(log: Logger): Promise<AgentHostScript> {
  const tree = assetBin('@everythingos/agent-host', 'agent-host.js');
  const packageDir = dirname(dirname(dirname(tree)));
  const bundle = join(packageDir, 'dist', 'bundle', 'agent-host.mjs');
  const bundleMtime = await mtimeMs(bundle);
  if (bundleMtime === null) {
    log.warn({ script: tree }, 'agent-host bundle not built (run `pnpm build`); agents start from the module tree, slower');
    return { path: tree, bundled: false, codeCacheable: false, packageDir };
  }
  const req = createRequire(join(packageDir, 'package.json'));
  const sources = [
    join(packageDir, 'dist', '.tsbuildinfo'),
    join(dirname(req.resolve('@everythingos/proto/package.json')), 'dist', '.tsbuildinfo'),
    join(dirname(req.resolve('@everythingos/sdk/package.json')), 'dist', '.tsbuildinfo'),
  ];
  for (const src of sources) {
    const m = await mtimeMs(src);
    if (m !== null && m > bundleMtime) {
      log.warn({ script: tree, bundle, newer: src }, 'agent-host bundle is older than the compiled code (run `pnpm build`); agents start from the module tree');
      return { path: tree, bundled: false, codeCacheable: false, packageDir };
    }
  }
  // The code-cached start (CommonJS body + V8 cache) when it was built with this bundle.
  const loader = join(packageDir, 'dist', 'bundle', 'agent-host.cjs');
  const body = join(packageDir, 'dist', 'bundle', 'agent-host-body.cjs');
  const [loaderMtime, bodyMtime] = await Promise.all([mtimeMs(loader), mtimeMs(body)]);
  if (loaderMtime !== null && bodyMtime !== null && bodyMtime >= bundleMtime) {
    return { path: loader, bundled: true, codeCacheable: true, packageDir };
  }
  return { path: bundle, bundled: true, codeCacheable: false, packageDir };
}
