// Egress guard overhead vs plain undici, and secret-scanner throughput.
// Build first: npx tsc -b supervisor   then: node test/bench/egress-overhead.bench.mjs
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const dist = new URL('../../supervisor/dist/security/', import.meta.url);
const { createEgressFetch } = await import(new URL('egress/index.js', dist).href);
const { Vault, SecretScanner } = await import(new URL('vault/index.js', dist).href);
const supRequire = createRequire(new URL('../../supervisor/package.json', import.meta.url));
const { Agent } = await import(supRequire.resolve('undici'));
const { pino } = await import(supRequire.resolve('pino'));

const N = Number(process.env.N ?? 5000);
const WARMUP = 500;
const BODY = Buffer.alloc(1024, 0x61);

const server = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BODY.length });
  res.end(BODY);
});
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const port = server.address().port;
const url = `http://127.0.0.1:${port}/x`;

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * s.length))];
  return { meanUs: +(mean * 1000).toFixed(1), p50Us: +(q(0.5) * 1000).toFixed(1), p99Us: +(q(0.99) * 1000).toFixed(1) };
}

async function measure(fn) {
  for (let i = 0; i < WARMUP; i++) await fn();
  const samples = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  return stats(samples);
}

const plain = new Agent();
const plainFetch = async () => {
  const res = await plain.request({ origin: `http://127.0.0.1:${port}`, path: '/x', method: 'GET' });
  await res.body.arrayBuffer();
};

const logger = pino({ level: 'silent' });
const audit = () => undefined;
const guard = createEgressFetch({ operatorAllowlist: [`127.0.0.1:${port}`] }, { audit, logger });
guard.setAgentPolicy('bench', { allowedHosts: [`127.0.0.1:${port}`] });

const dir = await mkdtemp('/tmp/eosd-bench-');
const vault = await Vault.open(join(dir, 'vault'), join(dir, 'vault.key'), { audit, logger });
for (let i = 0; i < 20; i++) await vault.set(`KEY_${i}`, Buffer.from(`sk-bench-secret-${i}-${'q'.repeat(24)}`));
const guardScan = createEgressFetch({ operatorAllowlist: [`127.0.0.1:${port}`] }, { audit, logger, credentials: vault });
guardScan.setAgentPolicy('bench', { allowedHosts: [`127.0.0.1:${port}`] });

const results = {
  plainUndici: await measure(plainFetch),
  egressGuard: await measure(() => guard.fetch('bench', { url })),
  egressGuardWith20SecretsScanned: await measure(() => guardScan.fetch('bench', { url })),
};

const scanner = vault.scanner();
const big = Buffer.alloc(8 * 1024 * 1024, 0x71);
const t0 = performance.now();
scanner.redactBytes(big);
const scanMs = performance.now() - t0;
const t1 = performance.now();
SecretScanner.create([...Array(20)].map((_, i) => [`K${i}`, Buffer.from(`sk-bench-secret-${i}-${'q'.repeat(24)}`)]));
const buildMs = performance.now() - t1;

console.log(JSON.stringify({
  node: process.version, requests: N, bodyBytes: BODY.length, ...results,
  scanner: { secrets: 20, patterns: scanner.patternCount, buildMs: +buildMs.toFixed(2), mibPerSec: +((8 / scanMs) * 1000).toFixed(1) },
}, null, 2));

await Promise.all([plain.close(), guard.close(), guardScan.close()]);
server.close();
await rm(dir, { recursive: true, force: true });
