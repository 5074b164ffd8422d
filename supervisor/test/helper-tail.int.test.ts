import { appendFile, chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import { HelperEventValidator, type SocAlert, type SocPublication } from '../src/helper/helper-event-validator.js';
import { startHelper } from '../src/helper/start-helper.js';

const HELPER_BIN = fileURLToPath(new URL('../../ebpf-helper/dist/bin/ebpf-helper.js', import.meta.url));
const FIX = new URL('../../ebpf-helper/test/fixtures/', import.meta.url);
const fx = (p: string): Promise<string> => readFile(new URL(p, FIX), 'utf8');
const isRoot = process.getuid?.() === 0;
const HELPER_UID = 61990;

function procStatus(pid: number, field: string): Promise<string | undefined> {
  return readFile(`/proc/${pid}/status`, 'utf8').then((s) => s.split('\n').find((l) => l.startsWith(`${field}:`))?.split(/\s+/)[1]);
}

describe('startHelper (tail mode, real helper process)', () => {
  it.skipIf(!existsSync(HELPER_BIN))('delivers validated Glasswally alerts, raises a tampered feed, runs without privileges and restarts after a crash', async () => {
    const dir = await mkdtemp('/tmp/eosd-');
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await chmod(dir, 0o711);
    const gw = join(dir, 'gw');
    await mkdir(gw, { mode: 0o755 });
    const audit = (await fx('glasswally/audit_log.jsonl')).trim().split('\n');
    await writeFile(join(gw, 'audit_log.jsonl'), `${audit[0]}\n`, { mode: 0o644 }); // history: skipped
    const published: SocPublication[] = [];
    const audits: string[] = [];
    const key = Buffer.from((await fx('feed-key.txt')).trim());
    const validator = new HelperEventValidator({
      logger: pino({ level: 'silent' }),
      feedKey: async () => key,
      audit: (e) => audits.push(e),
      uidRange: { min: 61000, max: 62000 },
      agentForUid: () => undefined,
      launcherPids: () => new Set(),
    });
    const helper = await startHelper(
      {
        mode: 'tail',
        socketPath: join(dir, 'ebpf.sock'),
        helperEntry: HELPER_BIN,
        nodePath: process.execPath,
        ...(isRoot ? { uid: HELPER_UID } : {}),
        tail: { dir: gw, pollMs: 50 },
        healthIntervalMs: 200,
        restart: { initialMs: 50 },
      },
      { logger: pino({ level: 'silent' }), validator, onPublish: (p) => published.push(p), isRoot },
    );
    onTestFinished(() => helper.stop());
    await helper.whenConnected();
    const pid = helper.pid!;
    if (isRoot) {
      expect(await procStatus(pid, 'Uid')).toBe(String(HELPER_UID));
      expect(await procStatus(pid, 'CapEff')).toBe('0000000000000000');
      expect(await procStatus(pid, 'CapBnd')).toBe('0000000000000000');
      expect(await procStatus(pid, 'NoNewPrivs')).toBe('1');
    }

    await appendFile(join(gw, 'audit_log.jsonl'), audit.slice(1).join('\n') + '\n');
    await writeFile(join(gw, 'ioc_feed.jsonl'), await fx('ioc_feed_tampered.jsonl'), { mode: 0o644 });
    const alertKinds = (): string[] => published.filter((p) => p.channel.startsWith('soc.alert.')).map((p) => `${(p.payload as SocAlert).kind}:${(p.payload as SocAlert).severity}`);
    await expect.poll(alertKinds, { timeout: 10_000 }).toEqual(
      expect.arrayContaining(['gw_action:CRITICAL', 'gw_action:HIGH', 'gw_action:MEDIUM', 'gw_ioc_tampered:HIGH']),
    );
    expect(published.filter((p) => p.channel === 'soc.alert.critical')).toHaveLength(1); // the history line was not replayed
    expect(published.filter((p) => p.channel === 'glasswally.enforcement')).toHaveLength(3);
    expect(audits).toContain('security.ioc_bundle_tampered');
    await expect.poll(() => helper.counters().helper.received, { timeout: 5000 }).toBeGreaterThanOrEqual(4);

    process.kill(pid, 'SIGKILL');
    await expect.poll(() => helper.counters().restarts, { timeout: 10_000 }).toBe(1);
    await helper.whenConnected();
    expect(helper.pid).not.toBe(pid);
    expect(alertKinds()).toContain('helper_down:CRITICAL');
    await appendFile(join(gw, 'audit_log.jsonl'), audit[0] + '\n');
    await expect.poll(() => published.filter((p) => p.channel === 'soc.alert.critical').length, { timeout: 10_000 }).toBe(3);
  });

  it.skipIf(!existsSync(HELPER_BIN))('refuses a world-writable Glasswally directory (helper exits, crash loop is bounded)', async () => {
    const dir = await mkdtemp('/tmp/eosd-');
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    await chmod(dir, 0o711);
    const gw = join(dir, 'gw');
    await mkdir(gw);
    await chmod(gw, 0o777);
    const published: SocPublication[] = [];
    const validator = new HelperEventValidator({
      logger: pino({ level: 'silent' }),
      feedKey: async () => null,
      audit: () => undefined,
      uidRange: { min: 61000, max: 62000 },
      agentForUid: () => undefined,
      launcherPids: () => new Set(),
    });
    const helper = await startHelper(
      {
        mode: 'tail',
        socketPath: join(dir, 'ebpf.sock'),
        helperEntry: HELPER_BIN,
        nodePath: process.execPath,
        ...(isRoot ? { uid: HELPER_UID } : {}),
        tail: { dir: gw },
        restart: { initialMs: 10, maxRestarts: 2, windowSec: 60 },
      },
      { logger: pino({ level: 'silent' }), validator, onPublish: (p) => published.push(p), isRoot },
    );
    onTestFinished(() => helper.stop());
    await expect.poll(() => helper.counters().state, { timeout: 15_000 }).toBe('crash-loop');
    expect(published.map((p) => (p.payload as SocAlert).kind)).toContain('helper_crash_loop');
  });
});
