// Benchmarks the supervisor side of the ebpf-helper (build first: npx tsc -b):
//   1. HelperEventValidator cost per frame: Glasswally action, signed feed entry (HMAC), kernel exec
//   2. eos.helper.v1 frame encode + decode per kernel event
//   3. kernel mode (root + bpftrace only): startHelper() until bpftrace is armed
// Prints median and min–max over RUNS runs. Usage: node scripts/bench-helper.mjs [RUNS]
import { readFileSync, mkdtempSync, rmSync, chmodSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import os from 'node:os';
import { createRequire } from 'node:module';
import { encodeHelperFrame, FrameDecoder } from '../supervisor/node_modules/@everythingos/proto/dist/index.js';
import { HelperEventValidator } from '../supervisor/dist/helper/helper-event-validator.js';
import { startHelper } from '../supervisor/dist/helper/start-helper.js';

const { pino } = createRequire(new URL('../supervisor/package.json', import.meta.url))('pino');
const RUNS = Number(process.argv[2] ?? 7);
const N = 20_000;
const fix = (p) => readFileSync(new URL(`../ebpf-helper/test/fixtures/${p}`, import.meta.url), 'utf8');
const key = Buffer.from(fix('feed-key.txt').trim());
const action = Buffer.from(fix('glasswally/audit_log.jsonl').split('\n')[2]);
const feed = Buffer.from(fix('glasswally/ioc_feed.jsonl').split('\n')[1]);
const kernel = {
  kind: 'exec', monoNs: '1', pid: 700, tid: 700, ppid: 600, uid: 61042, gid: 61042, cgroupId: '44', comm: 'node', path: '/bin/true',
  family: 0, addr: '', port: 0, flags: 0, request: 0, targetPid: 0, syscall: '', idArgs: [],
};
const validator = () =>
  new HelperEventValidator({
    logger: pino({ level: 'silent' }), feedKey: async () => key, audit: () => {}, uidRange: { min: 61000, max: 62000 },
    agentForUid: () => ({ agentId: 'a', cgroupId: '44' }), launcherPids: () => new Set(), alertsPerMinute: 1e9,
  });
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return `median ${s[Math.floor(s.length / 2)].toFixed(2)}  min ${s[0].toFixed(2)}  max ${s.at(-1).toFixed(2)}`;
};
async function perFrameUs(frame) {
  const out = [];
  for (let r = 0; r < RUNS; r++) {
    const v = validator();
    const t = performance.now();
    for (let i = 0; i < N; i++) await v.handle(frame);
    out.push(((performance.now() - t) * 1000) / N);
  }
  return out;
}

console.log(`machine: ${os.cpus().length} x ${os.cpus()[0]?.model}, ${os.release()}, node ${process.version}, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
console.log(`validator, µs/frame (N=${N}, ${RUNS} runs):`);
console.log(`  glasswally action   ${stats(await perFrameUs({ body: 'glasswallyRecord', glasswallyRecord: { kind: 'RECORD_KIND_ENFORCEMENT_ACTION', file: 'audit_log.jsonl', lineNo: 1, data: action } }))}`);
console.log(`  signed feed entry   ${stats(await perFrameUs({ body: 'glasswallyRecord', glasswallyRecord: { kind: 'RECORD_KIND_IOC_FEED_ENTRY', file: 'ioc_feed.jsonl', lineNo: 1, data: feed } }))}`);
console.log(`  kernel exec         ${stats(await perFrameUs({ body: 'kernelEvent', kernelEvent: kernel }))}`);

const codec = [];
for (let r = 0; r < RUNS; r++) {
  const dec = FrameDecoder.forHelperFrames();
  const t = performance.now();
  for (let i = 0; i < N; i++) dec.push(encodeHelperFrame({ kernelEvent: kernel }));
  codec.push(((performance.now() - t) * 1000) / N);
}
console.log(`frame encode+decode, µs/kernel event: ${stats(codec)}`);

if (process.getuid?.() === 0 && existsSync('/usr/bin/bpftrace')) {
  const bin = new URL('../ebpf-helper/dist/bin/ebpf-helper.js', import.meta.url).pathname;
  const times = [];
  for (let r = 0; r < Math.min(RUNS, 5); r++) {
    const dir = mkdtempSync('/tmp/eosd-');
    chmodSync(dir, 0o711);
    const t = performance.now();
    const h = await startHelper(
      { mode: 'kernel', socketPath: join(dir, 'ebpf.sock'), helperEntry: bin, nodePath: process.execPath, kernel: { uidMin: 61000, uidMax: 62000 }, healthIntervalMs: 100 },
      { logger: pino({ level: 'silent' }), validator: validator(), onPublish: () => {}, isRoot: true },
    );
    while (h.counters().helper.backendState !== 'armed') await new Promise((r) => setTimeout(r, 20));
    times.push(performance.now() - t);
    await h.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`kernel mode, ms from startHelper() to armed (incl. 1000 ms arm delay, ${times.length} runs): ${stats(times)}`);
} else {
  console.log('kernel mode startup: skipped (needs root and bpftrace)');
}
