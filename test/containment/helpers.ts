import { execFile } from 'node:child_process';
import { chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { LogLine } from '../e2e/helpers/daemon.js';

const run = promisify(execFile);

/** Root and the sandbox tools are required: under CI=true their absence fails the test. */
export function containmentSkipReason(): string | undefined {
  if (process.getuid?.() === 0) {
    return undefined;
  }
  if (process.env.CI === 'true') {
    throw new Error('the containment battery must run as root under CI=true');
  }
  return 'not root: the containment battery needs root (per-agent uids, cgroups, home images)';
}

/**
 * Writes files into an agent's home image before its first start (the daemon mounts it at that start):
 * attach, mount on a temp dir, write owned by the agent, unmount, detach.
 */
export async function writeIntoHomeImage(image: string, uid: number, files: Record<string, string | Buffer>): Promise<void> {
  const mnt = await mkdtemp('/tmp/eosd-home-');
  const { stdout } = await run('losetup', ['--find', '--show', image]);
  const dev = stdout.trim();
  try {
    await run('blockdev', ['--setrw', dev]);
    await run('mount', ['-w', dev, mnt]);
    try {
      for (const [name, text] of Object.entries(files)) {
        await writeFile(join(mnt, name), text);
        await chown(join(mnt, name), uid, uid);
      }
    } finally {
      await run('umount', [mnt]);
    }
  } finally {
    await run('losetup', ['-d', dev]);
    await rm(mnt, { recursive: true, force: true });
  }
}

/** One structured escape attempt result as logged by the escape-artist fixture. */
export interface AttemptResult {
  name: string;
  escaped: boolean;
  detail: string;
}

export function attempts(lines: readonly LogLine[], agentId: string): AttemptResult[] {
  return lines.filter((l) => l.agentId === agentId && l.msg === 'escape attempt').map((l) => l.agent as AttemptResult);
}
