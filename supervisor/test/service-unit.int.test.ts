import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it, onTestFinished } from 'vitest';
import { renderServiceUnit } from '../src/systemd/service-unit.js';

const run = promisify(execFile);
const EOSD_JS = fileURLToPath(new URL('../dist/bin/eosd.js', import.meta.url));

async function hasSystemdAnalyze(): Promise<boolean> {
  try {
    await run('systemd-analyze', ['--version']);
    return true;
  } catch {
    return false;
  }
}

async function verify(unit: string): Promise<{ code: number; stderr: string }> {
  const dir = await mkdtemp('/tmp/eosd-unit-');
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'eosd.service');
  await writeFile(file, unit);
  try {
    const r = await run('systemd-analyze', ['verify', '--man=no', file]);
    return { code: 0, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
}

describe('eosd.service', async () => {
  const available = await hasSystemdAnalyze();
  if (!available && process.env.CI) {
    throw new Error('CI must provide systemd-analyze (apt package systemd)');
  }
  it.skipIf(!available)('passes systemd-analyze verify with no warning', async () => {
    const unit = await renderServiceUnit(`${process.execPath} ${EOSD_JS}`);
    expect(unit).toContain('Type=notify');
    expect(unit).not.toMatch(/^MemoryDenyWriteExecute=/m);
    expect(await verify(unit)).toEqual({ code: 0, stderr: '' });
  });

  it.skipIf(!available)('is checked for real: a bad directive or a missing binary is reported', async () => {
    const unit = await renderServiceUnit(`${process.execPath} ${EOSD_JS}`);
    expect((await verify(unit.replace('NoNewPrivileges=yes', 'NoNewPrivileges=yes\nNoSuchKey=1'))).stderr).toContain('NoSuchKey');
    expect((await verify(await renderServiceUnit('/nonexistent/eosd'))).code).not.toBe(0);
  });
});
