// Builds the SDK's main entry ("." in package.json `exports`) as one ES module,
// dist/bundle/index.js, from tsc's per-file output (dist/index.js, agent.js, runtime.js and the
// parts of @everythingos/proto/core they use: core.js, errors.js, version.js). Every agent imports
// this entry at start, through Node's ESM loader inside its sandbox, and each module the loader
// resolves, reads and links costs about half a millisecond there (P5 in docs/performance.md;
// `node test/bench/sdk-import.bench.mjs`), so one file instead of six halves the import.
// The types stay tsc's (dist/index.d.ts); `./manifest` and `./testing` stay per-file modules.
// The bundle carries its own copy of EosError: `instanceof` still holds across copies because
// EosError brands its instances (proto/src/errors.ts), and ATTACH_RUNTIME is a registered symbol.
// Source map: esbuild follows tsc's maps, so --enable-source-maps shows sdk/src/*.ts and proto/src/*.ts lines.
// Run after `tsc -b` (the root `build` script and this package's `build`/`prepack` do both).
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');

const result = await build({
  entryPoints: [join(pkgDir, 'dist', 'index.js')],
  bundle: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Not minified: the code is small, and readable names and lines help whoever reads a stack trace.
  sourcemap: 'linked',
  sourcesContent: false,
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
  outfile: join(pkgDir, 'dist', 'bundle', 'index.js'),
});
const inputs = Object.keys(result.metafile.inputs).length;
const output = Object.entries(result.metafile.outputs).find(([file]) => file.endsWith('.js'));
if (output === undefined || output[1].imports.length !== 0) {
  throw new Error(`sdk bundle: expected one self-contained module, got ${JSON.stringify(output?.[1].imports)}`);
}
process.stdout.write(`sdk bundle: ${inputs} modules, ${output[1].bytes} bytes\n`);
