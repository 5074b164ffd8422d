// Checks the package graph of STYLE.md §1: internal deps are workspace:*, mirrored by tsconfig
// references, and only along allowed edges. The supervisor's dependency on agent-host is an
// asset edge: it spawns agent-host's and ebpf-helper's bins and never imports them (ESLint forbids it).
import { readFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ALLOWED = {
  proto: [],
  sdk: ['proto'],
  'agent-host': ['proto', 'sdk'],
  supervisor: ['proto'],
  'ebpf-helper': ['proto'],
  'examples/ping': ['sdk'],
  'examples/heartbeat': ['sdk'],
  'examples/soc-triage': ['sdk'],
  'examples/summariser': ['sdk'],
  'examples/actuator': ['sdk'],
  'examples/webhook': ['sdk'],
};
const ASSET_DEPS = { supervisor: ['agent-host', 'ebpf-helper'] };
const byName = {};
for (const dir of Object.keys(ALLOWED)) {
  byName[JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')).name] = dir;
}
const problems = [];
for (const [dir, allowed] of Object.entries(ALLOWED)) {
  const pkg = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'));
  const deps = { ...pkg.dependencies, ...pkg.devDependencies };
  const internal = Object.entries(deps).filter(([n]) => n.startsWith('@everythingos/'));
  for (const [name, spec] of internal) {
    if (spec !== 'workspace:*') problems.push(`${dir}: ${name} must be "workspace:*", is "${spec}"`);
  }
  const depDirs = internal.map(([n]) => byName[n]).filter((d) => !(ASSET_DEPS[dir] ?? []).includes(d));
  for (const d of depDirs) {
    if (!allowed.includes(d)) problems.push(`${dir} may not depend on ${d} (allowed: ${allowed.join(', ') || 'nothing'})`);
  }
  const tsconfig = join(root, dir, 'tsconfig.json');
  const refs = existsSync(tsconfig)
    ? (JSON.parse(readFileSync(tsconfig, 'utf8')).references ?? []).map((r) => join(dir, r.path).replace(/\\/g, '/'))
    : [];
  const expected = depDirs.slice().sort();
  const actual = refs.slice().sort();
  if (JSON.stringify(expected) !== JSON.stringify(actual)) {
    problems.push(`${dir}: tsconfig references [${actual}] differ from its internal deps [${expected}]`);
  }
}
const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
for (const n of Object.keys({ ...rootPkg.dependencies, ...rootPkg.devDependencies })) {
  if (n.startsWith('@everythingos/')) problems.push(`the root package.json must not depend on ${n}`);
}
if (problems.length > 0) {
  console.error(`package graph check failed:\n- ${problems.join('\n- ')}`);
  process.exit(1);
}
console.log(`package graph ok (${Object.keys(ALLOWED).length} packages)`);
