import { stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Logger } from 'pino';
import { assetBin } from '../asset-bin.js';

/** Which agent-host script the supervisor runs in each sandbox. */
export interface AgentHostScript {
  /** Absolute path of the script given to node. */
  path: string;
  /** True for the one-file bundle's code-cached start (`dist/bundle/agent-host.cjs`), false for the module tree (`dist/bin/agent-host.js`). */
  bundled: boolean;
  /** True when `path` takes `--code-cache=<file>` (the bundle's start). */
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
 * Picks agent-host's one-file bundle (`dist/bundle/agent-host.cjs`, which compiles the CommonJS
 * body `agent-host-body.cjs` next to it with a V8 code cache) when both files exist and the body
 * is not older than the compiled code it was made from (the `dist/.tsbuildinfo` of agent-host,
 * proto and sdk, where present: a plain `tsc -b` after a change leaves an old bundle behind), else
 * the compiled module tree. Both run the same code; the bundle starts faster and uses less memory
 * (docs/performance.md, P5/P6).
 */
export async function resolveAgentHostScript(log: Logger): Promise<AgentHostScript> {
  const tree = assetBin('@everythingos/agent-host', 'agent-host.js');
  const packageDir = dirname(dirname(dirname(tree)));
  const loader = join(packageDir, 'dist', 'bundle', 'agent-host.cjs');
  const body = join(packageDir, 'dist', 'bundle', 'agent-host-body.cjs');
  const [loaderMtime, bodyMtime] = await Promise.all([mtimeMs(loader), mtimeMs(body)]);
  if (loaderMtime === null || bodyMtime === null) {
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
    if (m !== null && m > bodyMtime) {
      log.warn({ script: tree, bundle: body, newer: src }, 'agent-host bundle is older than the compiled code (run `pnpm build`); agents start from the module tree');
      return { path: tree, bundled: false, codeCacheable: false, packageDir };
    }
  }
  return { path: loader, bundled: true, codeCacheable: true, packageDir };
}
