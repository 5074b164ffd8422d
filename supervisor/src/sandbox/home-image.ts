import { execFile } from 'node:child_process';
import { mkdir, stat, truncate, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { EosError } from '@everythingos/proto';
import type { Logger } from 'pino';

const execFileAsync = promisify(execFile);

/** Options for {@link mountHomeImage}. */
export interface HomeImageOptions {
  /** The image file (created when missing). Keep it in a root-only directory. */
  imagePath: string;
  /** Where the agent home is mounted (then bound into the sandbox). */
  mountPoint: string;
  /** Image size in bytes: the agent's disk cap (ext4 metadata takes a few % of it). */
  sizeBytes: number;
  /** Owner of the filesystem root. */
  uid: number;
  gid: number;
  logger: Logger;
  /** Tool paths. */
  mkfsPath?: string;
  mountPath?: string;
}

const EXT4_MIN_SIZE_BYTES = 2 * 1024 * 1024;

/**
 * Gives an agent a disk-capped home: a sparse file formatted as ext4 (no reserved blocks, root
 * owned by the agent) loop-mounted `nosuid,nodev,noexec`. Writes past the cap fail with ENOSPC.
 * An existing image is reused (its size is not changed). Needs root.
 * @throws EosError EOS_AGENT_SPAWN_FAILED when mkfs or mount fails.
 */
export async function mountHomeImage(opts: HomeImageOptions): Promise<void> {
  if (!Number.isSafeInteger(opts.sizeBytes) || opts.sizeBytes < EXT4_MIN_SIZE_BYTES) {
    throw new TypeError(`home image size must be an integer >= ${EXT4_MIN_SIZE_BYTES} bytes`);
  }
  try {
    let fresh = false;
    try {
      await stat(opts.imagePath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw err;
      }
      fresh = true;
    }
    if (fresh) {
      await writeFile(opts.imagePath, '', { mode: 0o600, flag: 'wx' });
      await truncate(opts.imagePath, opts.sizeBytes);
      await execFileAsync(opts.mkfsPath ?? '/usr/sbin/mkfs.ext4', [
        '-q',
        '-F',
        '-m',
        '0',
        '-E',
        `root_owner=${opts.uid}:${opts.gid}`,
        opts.imagePath,
      ]);
    }
    await mkdir(opts.mountPoint, { recursive: true, mode: 0o700 });
    await execFileAsync(opts.mountPath ?? '/usr/bin/mount', ['-o', 'loop,nosuid,nodev,noexec', opts.imagePath, opts.mountPoint]);
    opts.logger.debug({ imagePath: opts.imagePath, mountPoint: opts.mountPoint, fresh }, 'agent home image mounted');
  } catch (err) {
    throw new EosError('EOS_AGENT_SPAWN_FAILED', `cannot mount the agent home image ${opts.imagePath}; needs root, mkfs.ext4 and loop devices`, {
      cause: err,
    });
  }
}

/**
 * Unmounts an agent home image; the loop device is freed automatically (mount -o loop sets
 * autoclear). A mount point that is not mounted is fine.
 * @throws EosError EOS_ILLEGAL_STATE when the filesystem is busy.
 */
export async function unmountHomeImage(mountPoint: string, opts: { umountPath?: string } = {}): Promise<void> {
  try {
    await execFileAsync(opts.umountPath ?? '/usr/bin/umount', [mountPoint]);
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    if (/not mounted|no mount point/i.test(stderr)) {
      return;
    }
    throw new EosError('EOS_ILLEGAL_STATE', `cannot unmount agent home ${mountPoint}; stop the agent first`, { cause: err });
  }
}
