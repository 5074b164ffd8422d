import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { readProcRss, RssSampler } from '../src/metrics/rss-sampler.js';

const log = pino({ level: 'silent' });
const MiB = 1024 * 1024;
const INTERVAL_MS = 100;

// A real process whose RSS grows by 160 MiB (touched pages) when told to on stdin.
const GROWER = `
const held = [];
process.stdin.on('data', () => {
  const b = Buffer.alloc(160 * 1024 * 1024, 1);
  held.push(b);
  process.stdout.write('grown\\n');
});
process.stdout.write('ready\\n');
`;

const children: ChildProcess[] = [];

async function grower(): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', GROWER], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  await once(child.stdout as NodeJS.ReadableStream, 'data');
  return child;
}

async function grow(child: ChildProcess): Promise<void> {
  child.stdin?.write('x');
  await once(child.stdout as NodeJS.ReadableStream, 'data');
}

afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGKILL');
      await once(c, 'exit');
    }
  }
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

describe('RssSampler', () => {
  it('reports the real RSS of a process and follows it within the staleness bound', async () => {
    const child = await grower();
    const pid = child.pid as number;
    const sampler = new RssSampler({ pids: () => [pid], intervalMs: INTERVAL_MS, concurrency: 4, log });
    sampler.start();
    try {
      await sleep(INTERVAL_MS);
      const before = await sampler.rssBytes(pid);
      const actualBefore = (await readProcRss(pid)) as number;
      expect(before).toBeGreaterThan(10 * MiB);
      expect(Math.abs(before - actualBefore)).toBeLessThan(8 * MiB);

      await grow(child);
      const actualAfter = (await readProcRss(pid)) as number;
      expect(actualAfter - actualBefore).toBeGreaterThan(150 * MiB);
      // Within one interval plus one sweep (and scheduling slack) the cached value has caught up.
      await sleep(3 * INTERVAL_MS);
      const after = await sampler.rssBytes(pid);
      expect(Math.abs(after - actualAfter)).toBeLessThan(8 * MiB);
      // Generous for a loaded machine: the bound is one interval plus one sweep plus timer lag.
      expect(sampler.ageMs(pid)).toBeLessThanOrEqual(1000);
    } finally {
      await sampler.stop();
    }
  });

  it('answers from the cache: no /proc read per call, however many agents', async () => {
    const child = await grower();
    const real = child.pid as number;
    // 499 pids that do not exist (reads fail: reported 0) next to one real process.
    const pids = [real, ...Array.from({ length: 499 }, (_, i) => 4_000_000 + i)];
    let reads = 0;
    const sampler = new RssSampler({
      pids: () => pids,
      intervalMs: 60_000,
      concurrency: 8,
      log,
      read: (pid) => {
        reads++;
        return readProcRss(pid);
      },
    });
    await sampler.sweep();
    expect(reads).toBe(500);
    const values = await Promise.all(pids.map((p) => sampler.rssBytes(p)));
    expect(reads).toBe(500);
    expect(values[0]).toBeGreaterThan(10 * MiB);
    expect(values.slice(1).every((v) => v === 0)).toBe(true);
    // A pid not sampled yet is read once, then cached.
    expect(await sampler.rssBytes(process.pid)).toBeGreaterThan(10 * MiB);
    expect(await sampler.rssBytes(process.pid)).toBeGreaterThan(10 * MiB);
    expect(reads).toBe(501);
  });

  it('reports 0 for a process that exited and forgets pids no longer listed', async () => {
    const child = await grower();
    const pid = child.pid as number;
    let listed = [pid];
    const sampler = new RssSampler({ pids: () => listed, intervalMs: 60_000, concurrency: 2, log });
    await sampler.sweep();
    expect(await sampler.rssBytes(pid)).toBeGreaterThan(10 * MiB);
    child.kill('SIGKILL');
    await once(child, 'exit');
    await sampler.sweep();
    expect(await sampler.rssBytes(pid)).toBe(0);
    listed = [];
    await sampler.sweep();
    expect(sampler.ageMs(pid)).toBeUndefined();
  });
});
