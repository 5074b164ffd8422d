import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { EosError } from '@everythingos/proto';
import { generateLedgerKey, Ledger, queryLedger, verifyLedger, type AppendResult } from '../src/ledger/index.js';
import { leafHash } from '../src/ledger/merkle.js';

const logger = pino({ level: 'silent' });

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Whether this host lets us mount file systems; in CI a missing capability is a failure, not a skip. */
function canMount(): boolean {
  let missing = process.getuid?.() === 0 ? '' : 'not root';
  if (missing === '') {
    const probe = mkdtempSync('/tmp/eosd-probe-');
    try {
      run('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe]);
      run('umount', [probe]);
    } catch (err) {
      missing = `mount(2) failed: ${(err as Error).message}`;
    } finally {
      rmSync(probe, { recursive: true, force: true });
    }
  }
  if (missing !== '' && process.env.CI) {
    throw new Error(`ledger fault tests need root and mount(2) (tmpfs, loop devices); CI must provide them (${missing})`);
  }
  return missing === '';
}

const MOUNT_OK = canMount();
const SKIP_REASON = 'needs root and mount(2) to build a real full / failing file system';

function mountTmpfs(sizeBytes: number): string {
  const root = mkdtempSync('/tmp/eosd-');
  const mnt = join(root, 'mnt');
  mkdirSync(mnt);
  run('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', mnt]);
  onTestFinished(() => {
    run('umount', ['-l', mnt]);
    rmSync(root, { recursive: true, force: true });
  });
  return mnt;
}

/** Appends durable records until one is rejected; returns what was acknowledged and the error. */
async function fillUntilRejected(l: Ledger, payloadBytes: number): Promise<{ acked: AppendResult[]; err: EosError }> {
  const acked: AppendResult[] = [];
  const filler = 'x'.repeat(payloadBytes);
  for (let round = 0; round < 10_000; round++) {
    const batch = Array.from({ length: 8 }, (_, i) => l.append('agent.act', 'a', { round, i, filler }, { durable: true }));
    const settled = await Promise.allSettled(batch);
    for (const s of settled) {
      if (s.status === 'fulfilled') {
        acked.push(s.value);
      } else {
        return { acked, err: s.reason as EosError };
      }
    }
  }
  throw new Error('the file system never filled up');
}

describe.skipIf(!MOUNT_OK)(`Ledger on a failing file system (${MOUNT_OK ? 'real tmpfs / ext4 loop device' : SKIP_REASON})`, () => {
  it('fails closed with EOS_LEDGER_DEGRADED on a full disk, keeps every acknowledged record, and recovers after the disk grows', async () => {
    const mnt = mountTmpfs(256 * 1024);
    const key = generateLedgerKey(join(mnt, 'ledger.key'));
    const dir = join(mnt, 'audit');
    const alarms: EosError[] = [];
    const l = await Ledger.open({ dir, create: true }, { key, logger, onAlarm: (e) => alarms.push(e) });
    const { acked, err } = await fillUntilRejected(l, 2000);
    expect(err).toMatchObject({ code: 'EOS_LEDGER_DEGRADED', details: { errno: 'ENOSPC' } });
    expect(err.message).toContain('failed closed');
    expect(l.degraded).toBe(true);
    expect(alarms).toHaveLength(1);
    await expect(l.append('approval.granted', 'a', {}, { durable: true })).rejects.toMatchObject({ code: 'EOS_LEDGER_DEGRADED' });
    await expect(l.checkpoint()).rejects.toMatchObject({ code: 'EOS_LEDGER_DEGRADED' });
    await l.close();
    expect(acked.length).toBeGreaterThan(20);

    run('mount', ['-o', 'remount,size=8m', mnt]);
    const r = await Ledger.open({ dir }, { key, logger });
    await r.close();
    expect(await verifyLedger(dir, key.publicKey)).toMatchObject({ valid: true });
    const lines = readFileSync(join(dir, 'segment-000001.jsonl'), 'utf8').split('\n');
    for (const a of acked) {
      expect(leafHash(Buffer.from(lines[a.seq] as string)).toString('hex')).toBe(a.hash);
    }
    expect(queryLedger(dir, { kind: 'ledger.open' }).length).toBe(2);
  });

  it('refuses to open on a read-only file system with a clear EOS_LEDGER_DEGRADED error; offline verify still works', async () => {
    const mnt = mountTmpfs(1024 * 1024);
    const key = generateLedgerKey(join(mnt, 'ledger.key'));
    const dir = join(mnt, 'audit');
    const l = await Ledger.open({ dir, create: true }, { key, logger });
    await l.append('agent.act', 'a', { i: 1 }, { durable: true });
    await l.close();
    run('mount', ['-o', 'remount,ro', mnt]);
    const err = await Ledger.open({ dir }, { key, logger }).then(
      () => undefined,
      (e: unknown) => e as EosError,
    );
    expect(err).toMatchObject({ code: 'EOS_LEDGER_DEGRADED', details: { errno: 'EROFS' } });
    expect(err?.message).toMatch(/cannot be opened/);
    expect(await verifyLedger(dir, key.publicKey)).toMatchObject({ valid: true });
  });

  it('fails closed when the file system dies under open descriptors (ext4 shutdown: EIO), never acking the lost records', async () => {
    const root = mkdtempSync('/tmp/eosd-');
    const img = join(root, 'img');
    const mnt = join(root, 'mnt');
    mkdirSync(mnt);
    run('truncate', ['-s', '32M', img]);
    run('mkfs.ext4', ['-q', img]);
    // mount -o loop attaches a free loop device with autoclear in one step, so parallel users of
    // loop devices on this host cannot grab the same one; unmounting detaches it.
    run('mount', ['-o', 'loop', img, mnt]);
    onTestFinished(() => {
      // Lazy, so a descriptor left open by a failed assertion cannot keep the mount alive.
      run('umount', ['-l', mnt]);
      rmSync(root, { recursive: true, force: true });
    });
    expect(run('findmnt', ['-n', '-o', 'FSTYPE', mnt]).trim()).toBe('ext4');
    const key = generateLedgerKey(join(root, 'ledger.key'));
    const dir = join(mnt, 'audit');
    const alarms: EosError[] = [];
    const l = await Ledger.open({ dir, create: true }, { key, logger, onAlarm: (e) => alarms.push(e) });
    await l.append('agent.act', 'a', { before: true }, { durable: true });
    // EXT4_IOC_SHUTDOWN with EXT4_GOING_FLAGS_NOLOGFLUSH: every later write and fsync fails with EIO.
    run('python3', [
      '-c',
      `import os,fcntl,struct; d=os.open(${JSON.stringify(mnt)},os.O_RDONLY); fcntl.ioctl(d,0x8004587D,struct.pack('I',2))`,
    ]);
    await expect(l.append('approval.granted', 'a', { after: true }, { durable: true })).rejects.toMatchObject({
      code: 'EOS_LEDGER_DEGRADED',
      details: { errno: 'EIO' },
    });
    expect(l.degraded).toBe(true);
    expect(alarms).toHaveLength(1);
    await expect(l.append('agent.act', 'a', {}, { durable: true })).rejects.toMatchObject({ code: 'EOS_LEDGER_DEGRADED' });
    await l.close();
  });
});
