// Bundles agent-host (its compiled dist, the grpc-free parts of @everythingos/proto, the bits of
// @everythingos/sdk it uses, protobufjs for the unary calls' codecs) into one CommonJS file, dist/bundle/agent-host-body.cjs, and copies the
// code-cached start next to it as dist/bundle/agent-host.cjs, which the supervisor runs in the
// sandbox instead of dist/bin/agent-host.js: Node then compiles one script (from a V8 code cache the
// supervisor produces, supervisor/src/agent/agent-host-code-cache.ts) instead of resolving and
// loading a few hundred modules at every agent start (P5 and P6 in docs/performance.md). CommonJS
// because V8 code caches exist for scripts, not for ES modules, in Node 20. Run after `tsc -b` (the
// root `build` script does both).
import { build } from 'esbuild';
import { copyFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const pkgDir = join(dirname(fileURLToPath(import.meta.url)), '..');

const result = await build({
  entryPoints: [join(pkgDir, 'dist', 'bin', 'agent-host.js')],
  bundle: true,
  platform: 'node',
  target: 'node20',
  // Whitespace and syntax only: identifiers stay, so stack traces keep their function names.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'eof',
  logLevel: 'warning',
  metafile: true,
  outfile: join(pkgDir, 'dist', 'bundle', 'agent-host-body.cjs'),
  format: 'cjs',
  // proto's PROTO_ROOT uses import.meta.url (never read by agent-host); give it the body's URL.
  define: { 'import.meta.url': '__eosImportMetaUrl' },
  banner: { js: "var __eosImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
});
// agent-host speaks gRPC through its own client (src/agent-client.ts); grpc-js back in the bundle
// would be two thirds of every agent start's code again, so the build refuses it.
const grpcJs = Object.keys(result.metafile.inputs).filter((p) => p.includes('@grpc/grpc-js') || p.includes('@grpc+grpc-js'));
if (grpcJs.length > 0) {
  throw new Error(`agent-host bundle pulls in grpc-js (${grpcJs[0]}); import from @everythingos/proto/agent-wire and /core, not the package root`);
}
const inputs = Object.keys(result.metafile.inputs).length;
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
process.stdout.write(`agent-host bundle: ${inputs} modules, ${bytes} bytes\n`);
await copyFile(join(pkgDir, 'scripts', 'code-cache-start.cjs'), join(pkgDir, 'dist', 'bundle', 'agent-host.cjs'));
