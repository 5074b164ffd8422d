import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import { SdNotifier } from '../src/systemd/sd-notifier.js';

const FAKE = fileURLToPath(new URL('./fixtures/fake-notify-socket.py', import.meta.url));
const log = pino({ level: 'silent' });

async function listener(): Promise<{ socket: string; messages: string[] }> {
  const dir = await mkdtemp('/tmp/eosd-notify-');
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const socket = join(dir, 'notify.sock');
  const child = spawn(existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3', [FAKE, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
  onTestFinished(() => void child.kill('SIGKILL'));
  const messages: string[] = [];
  let buf = '';
  await new Promise<void>((resolve) => {
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      buf += c;
      let nl;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const rec = JSON.parse(buf.slice(0, nl)) as { listening?: string; message?: string };
        buf = buf.slice(nl + 1);
        if (rec.listening) {
          resolve();
        } else if (rec.message !== undefined) {
          messages.push(rec.message);
        }
      }
    });
  });
  return { socket, messages };
}

describe('SdNotifier against a real datagram notify socket', () => {
  it('sends READY=1 with a status and the main pid', async () => {
    const l = await listener();
    const n = new SdNotifier({ env: { NOTIFY_SOCKET: l.socket }, logger: log, pid: 4242 });
    expect(n.enabled).toBe(true);
    await n.ready('2 agents running');
    await expect.poll(() => l.messages.join('\n')).toContain('READY=1');
    const ready = l.messages.find((m) => m.includes('READY=1'))!;
    expect(ready).toContain('STATUS=2 agents running');
    expect(ready).toContain('MAINPID=4242');
    await n.stopping();
    await expect.poll(() => l.messages.some((m) => m.includes('STOPPING=1'))).toBe(true);
  });

  it('pings the watchdog at half the period only while healthy', async () => {
    const l = await listener();
    const n = new SdNotifier({ env: { NOTIFY_SOCKET: l.socket, WATCHDOG_USEC: '400000' }, logger: log });
    expect(n.watchdogMs).toBe(400);
    let healthy = true;
    n.startWatchdog(async () => ({ healthy }));
    onTestFinished(() => n.stopWatchdog());
    await expect.poll(() => l.messages.filter((m) => m.includes('WATCHDOG=1')).length, { timeout: 5_000 }).toBeGreaterThanOrEqual(2);
    healthy = false;
    await new Promise((r) => setTimeout(r, 400));
    const before = l.messages.filter((m) => m.includes('WATCHDOG=1')).length;
    await new Promise((r) => setTimeout(r, 800));
    expect(l.messages.filter((m) => m.includes('WATCHDOG=1')).length).toBe(before);
  });

  it('is a no-op without NOTIFY_SOCKET, and ignores a watchdog meant for another pid', async () => {
    expect(new SdNotifier({ env: {}, logger: log }).enabled).toBe(false);
    await new SdNotifier({ env: {}, logger: log }).ready('x');
    expect(new SdNotifier({ env: { NOTIFY_SOCKET: '/x', WATCHDOG_USEC: '1000', WATCHDOG_PID: '1' }, logger: log, pid: 2 }).watchdogMs).toBeUndefined();
  });
});
