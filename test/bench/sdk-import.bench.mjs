// What an agent's `import()` of its ESM entry costs at start (the "agent module imported" step of P5),
// outside the sandbox and without the daemon, and what the SDK's file layout has to do with it.
// Run after `pnpm build`: node test/bench/sdk-import.bench.mjs [--runs N]   (default 40)
//
// Builds installed-looking agent packages in a temp dir (real copies, no symlinks, as after
// `eosd agents add`): the bench-idle entry (`import { Agent } from '@everythingos/sdk'`, one empty
// subclass) plus node_modules/@everythingos/{sdk,proto} holding package.json and dist/, with the
// SDK's "." export pointing at
//   multi        the per-file tsc output (sdk/dist/index.js, agent.js, runtime.js -> proto core.js,
//                errors.js, version.js: 7 modules with the entry; what the SDK shipped before)
//   single       sdk/dist/bundle/index.js, the one-file ESM build of the main entry that the SDK ships
//                (sdk/scripts/bundle.mjs; 2 modules with the entry)
//   single+core  the same bundle built with @everythingos/proto/core left external (5 modules)
// and, as the loader's fixed cost, an empty ES module; empty, multi and single also run under Node's
// permission model (as agent-host in the sandbox: --experimental-permission, reads allowed in the
// temp dir). Each run is a fresh `node` whose CommonJS script imports one entry by file URL, as
// agent-host's code-cached start does (the first import() of a CommonJS process, so the ESM
// loader's own start is included); performance.now() around it. Variants are interleaved run by run.
//
// A second part splits the multi-file import: in fresh processes with --experimental-vm-modules,
// read the 7 files (readFileSync), compile them (new vm.SourceTextModule), link and evaluate them.
// What the real import takes beyond those is resolution (specifier -> URL, package.json lookups)
// and the loader's own per-module work (module jobs, URL handling, promises).
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const runsArg = process.argv.indexOf('--runs');
const runs = runsArg === -1 ? 40 : Number(process.argv[runsArg + 1]);
const { buildSync } = createRequire(join(root, 'sdk', 'package.json'))('esbuild');

const tmp = mkdtempSync(join(tmpdir(), 'eos-sdk-import-'));
try {
  const entrySource = readFileSync(join(root, 'test/fixtures/agents/bench-idle/index.js'), 'utf8');
  const agentPkg = readFileSync(join(root, 'test/fixtures/agents/bench-idle/package.json'), 'utf8');
  const sdkPkg = JSON.parse(readFileSync(join(root, 'sdk/package.json'), 'utf8'));

  /** An installed agent package whose SDK main entry is `mainEntry` (relative to the SDK's dir). */
  const layout = (name, mainEntry, writeBundle) => {
    const dir = join(tmp, name);
    const mods = join(dir, 'node_modules', '@everythingos');
    mkdirSync(mods, { recursive: true });
    writeFileSync(join(dir, 'index.js'), entrySource);
    writeFileSync(join(dir, 'package.json'), agentPkg);
    for (const pkg of ['sdk', 'proto']) {
      cpSync(join(root, pkg, 'package.json'), join(mods, pkg, 'package.json'));
      cpSync(join(root, pkg, 'dist'), join(mods, pkg, 'dist'), { recursive: true });
    }
    const pkgJson = { ...sdkPkg, exports: { ...sdkPkg.exports, '.': { types: './dist/index.d.ts', default: mainEntry } } };
    writeFileSync(join(mods, 'sdk', 'package.json'), JSON.stringify(pkgJson, null, 2));
    writeBundle?.(join(mods, 'sdk'));
    return pathToFileURL(join(dir, 'index.js')).href;
  };
  const bundle = (external) => (sdkDir) =>
    buildSync({
      entryPoints: [join(root, 'sdk/dist/index.js')],
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      external,
      outfile: join(sdkDir, 'dist', 'one', 'index.js'),
      logLevel: 'warning',
    });
  const emptyDir = join(tmp, 'empty');
  mkdirSync(emptyDir);
  writeFileSync(join(emptyDir, 'package.json'), '{"type":"module"}');
  writeFileSync(join(emptyDir, 'warm.js'), 'export {};\n');
  writeFileSync(join(emptyDir, 'index.js'), 'export default class Empty {}\n');
  const warmUrl = pathToFileURL(join(emptyDir, 'warm.js')).href;

  const variants = {
    empty: pathToFileURL(join(emptyDir, 'index.js')).href,
    multi: layout('multi', './dist/index.js'),
    single: layout('single', './dist/bundle/index.js'),
    'single+core': layout('single-core', './dist/one/index.js', bundle(['@everythingos/proto/core'])),
  };

  // One import() per process, the first ES module of a CommonJS process: as in agent-host, whose
  // code-cached body is CommonJS and whose first import() is the agent's entry, so the ESM loader's
  // own start is in every figure (the `empty` variant is that start alone).
  const harness = join(tmp, 'harness.cjs');
  writeFileSync(
    harness,
    `'use strict';
const { performance } = require('node:perf_hooks');
const importModule = (url) => import(url);
(async () => {
  const t0 = performance.now();
  const mod = await importModule(process.argv[2]);
  const t1 = performance.now();
  if (typeof mod.default !== 'function') throw new Error('no default export');
  process.stdout.write(JSON.stringify({ import: t1 - t0 }));
})();
`,
  );

  // The same imports under Node's permission model with reads allowed in the temp dir only, as
  // agent-host runs in the sandbox (--experimental-permission, one --allow-fs-read per path).
  const permission = ['--experimental-permission', '--no-warnings', `--allow-fs-read=${tmp}`];
  const runsOf = [
    ...Object.entries(variants).map(([name, url]) => ({ name, url, flags: [] })),
    ...['empty', 'multi', 'single'].map((name) => ({ name: `${name} perm`, url: variants[name], flags: permission })),
  ];
  const samples = Object.fromEntries(runsOf.map((r) => [r.name, []]));
  const load0 = loadavg()[0];
  for (let i = 0; i < runs + 2; i++) {
    for (const { name, url, flags } of runsOf) {
      const out = JSON.parse(execFileSync(process.execPath, [...flags, harness, url], { encoding: 'utf8' }));
      if (i >= 2) {
        samples[name].push(out.import);
      }
    }
  }

  // Split of the multi-file import: read, compile, link + evaluate the same 7 files by hand.
  const sdk = join(tmp, 'multi', 'node_modules', '@everythingos', 'sdk', 'dist');
  const proto = join(tmp, 'multi', 'node_modules', '@everythingos', 'proto', 'dist');
  const files = {
    entry: join(tmp, 'multi', 'index.js'),
    sdk: join(sdk, 'index.js'),
    agent: join(sdk, 'agent.js'),
    runtime: join(sdk, 'runtime.js'),
    core: join(proto, 'core.js'),
    errors: join(proto, 'errors.js'),
    version: join(proto, 'version.js'),
  };
  const links = {
    entry: { '@everythingos/sdk': 'sdk' },
    sdk: { './agent.js': 'agent', './runtime.js': 'runtime', '@everythingos/proto/core': 'core' },
    agent: { '@everythingos/proto/core': 'core', './runtime.js': 'runtime' },
    runtime: {},
    core: { './errors.js': 'errors', './version.js': 'version' },
    errors: {},
    version: {},
  };
  const splitScript = join(tmp, 'split.mjs');
  writeFileSync(
    splitScript,
    `import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import vm from 'node:vm';
await import(${JSON.stringify(warmUrl)});
const files = ${JSON.stringify(files)};
const links = ${JSON.stringify(links)};
const t0 = performance.now();
const src = Object.fromEntries(Object.entries(files).map(([k, f]) => [k, readFileSync(f, 'utf8')]));
const t1 = performance.now();
const mods = Object.fromEntries(Object.entries(src).map(([k, s]) => [k, new vm.SourceTextModule(s, { identifier: files[k] })]));
const t2 = performance.now();
await mods.entry.link((spec, ref) => {
  const from = Object.keys(mods).find((k) => mods[k] === ref);
  return mods[links[from][spec]];
});
const t3 = performance.now();
await mods.entry.evaluate();
const t4 = performance.now();
process.stdout.write(JSON.stringify({ read: t1 - t0, compile: t2 - t1, link: t3 - t2, evaluate: t4 - t3 }));
`,
  );
  const split = { read: [], compile: [], link: [], evaluate: [] };
  for (let i = 0; i < runs + 2; i++) {
    const out = JSON.parse(
      execFileSync(process.execPath, ['--experimental-vm-modules', '--no-warnings', splitScript], { encoding: 'utf8' }),
    );
    if (i >= 2) {
      for (const k of Object.keys(split)) split[k].push(out[k]);
    }
  }

  const med = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  const fmt = (xs) => {
    const m = med(xs);
    const s = [...xs].sort((a, b) => a - b);
    const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
    return `p50 ${m.toFixed(2)} ms (p10 ${q(0.1).toFixed(2)}, p90 ${q(0.9).toFixed(2)})`;
  };
  const cpu = cpus();
  console.log(
    `node ${process.version}, ${cpu.length}x ${cpu[0]?.model}, ${runs} runs per variant (+2 warm-up), interleaved; ` +
      `load average ${load0.toFixed(2)} -> ${loadavg()[0].toFixed(2)}`,
  );
  for (const [name, xs] of Object.entries(samples)) {
    console.log(`import ${name.padEnd(12)} ${fmt(xs)}`);
  }
  console.log(
    `one file instead of seven: ${(med(samples.multi) - med(samples.single)).toFixed(2)} ms saved per start ` +
      `(${(med(samples['multi perm']) - med(samples['single perm'])).toFixed(2)} ms under the permission model); ` +
      `the ESM loader's own start (empty) is ${med(samples.empty).toFixed(2)} ms of each figure`,
  );
  console.log('multi, split by hand (vm.SourceTextModule, same 7 files, ESM loader already started):');
  for (const [k, xs] of Object.entries(split)) console.log(`  ${k.padEnd(9)} ${fmt(xs)}`);
  const parts = Object.values(split).reduce((n, xs) => n + med(xs), 0);
  console.log(
    `  resolution + loader per-module work (multi - empty - sum of the parts): ${(med(samples.multi) - med(samples.empty) - parts).toFixed(2)} ms`,
  );
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
