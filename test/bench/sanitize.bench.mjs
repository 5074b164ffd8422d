// Sanitizer throughput and adversarial scaling. Build first: `npx tsc -p supervisor` (writes supervisor/dist),
// then run `node test/bench/sanitize.bench.mjs` from the repository root.
import { readFileSync } from 'node:fs';

const dist = new URL('../../supervisor/dist/security/sanitize/index.js', import.meta.url);
const { sanitize, filterModelOutput } = await import(dist.href);
const set = JSON.parse(readFileSync(new URL('../../supervisor/test/fixtures/injection-eval-set.json', import.meta.url), 'utf8'));

function bench(name, fn, iterations) {
  for (let i = 0; i < Math.min(iterations, 50); i += 1) fn(i);
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i += 1) fn(i);
  const ns = Number(process.hrtime.bigint() - start);
  return { name, iterations, usPerOp: ns / iterations / 1000 };
}

const texts = set.map((item) => item.text);
const prose = 'The quarterly report shows revenue grew 4% while costs stayed flat; the team will present on Monday. ';
const results = [
  bench('sanitize, eval-set item (avg 60 chars)', (i) => sanitize(texts[i % texts.length]), 20_000),
  bench('sanitize, 4 KB prose', () => sanitize(prose.repeat(40)), 2_000),
  bench('sanitize, 64 KB prose', () => sanitize(prose.repeat(640)), 100),
  bench('filterModelOutput strict, 4 KB prose', () => filterModelOutput(prose.repeat(40), { strict: true }), 2_000),
];
for (const r of results) console.log(`${r.name.padEnd(42)} ${r.usPerOp.toFixed(1).padStart(10)} us/op`);
const oneMb = prose.repeat(Math.ceil(1_000_000 / prose.length));
const t0 = performance.now();
sanitize(oneMb);
console.log(`${'sanitize, 1 MB prose'.padEnd(42)} ${(performance.now() - t0).toFixed(0).padStart(10)} ms`);
