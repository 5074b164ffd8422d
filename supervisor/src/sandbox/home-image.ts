import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
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
  umountPath?: string;
  losetupPath?: string;
  blockdevPath?: string;
}

/** One mount of /proc/self/mountinfo: its mount point (octal escapes such as `\040` decoded) and options. */
export interface MountEntry {
  mountPoint: string;
  options: string[];
}

/** The mounts of this process's mount namespace, in mount order (the last one on a path is on top). */
export async function readMounts(): Promise<MountEntry[]> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  const out: MountEntry[] = [];
  for (const line of info.split('\n')) {
    // Fields: id parent major:minor root mount-point options ...
    const f = line.split(' ');
    if (f[4] === undefined) {
      continue;
    }
    const mountPoint = f[4].replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
    out.push({ mountPoint, options: (f[5] ?? '').split(',') });
  }
  return out;
}

async function isMountedReadWrite(mountPoint: string): Promise<boolean> {
  const top = (await readMounts()).filter((m) => m.mountPoint === mountPoint).at(-1);
  return top !== undefined && top.options.includes('rw');
}

const EXT4_MIN_SIZE_BYTES = 2 * 1024 * 1024;

/**
 * Gives an agent a disk-capped home: a sparse file formatted as ext4 (no reserved blocks, root
 * owned by the agent) loop-mounted read-write, `nosuid,nodev,noexec` (verified in mountinfo). Writes past the cap fail with ENOSPC.
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
    // Attach the loop device ourselves: a free loop device can carry a stale read-only disk flag,
    // and `mount -o loop` then silently mounts the home read-only (seen on this host).
    const { stdout } = await execFileAsync(opts.losetupPath ?? '/usr/sbin/losetup', ['--find', '--show', opts.imagePath]);
    const device = stdout.trim();
    try {
      await execFileAsync(opts.blockdevPath ?? '/usr/sbin/blockdev', ['--setrw', device]);
      await execFileAsync(opts.mountPath ?? '/usr/bin/mount', ['-w', '-o', 'nosuid,nodev,noexec', device, opts.mountPoint]);
    } finally {
      // On a mounted device this only sets autoclear: the device is freed at unmount.
      await execFileAsync(opts.losetupPath ?? '/usr/sbin/losetup', ['-d', device]);
    }
    if (!(await isMountedReadWrite(opts.mountPoint))) {
      await unmountHomeImage(opts.mountPoint, opts);
      throw new Error(`${opts.mountPoint} was mounted read-only`);
    }
    // The fs root is owned by the agent (root_owner); keep other host users out of it.
    try {
      await chmod(opts.mountPoint, 0o700);
    } catch (err) {
      // Not left mounted for nobody to release: the caller only tracks homes that mounted fully.
      await unmountHomeImage(opts.mountPoint, opts);
      throw err;
    }
    opts.logger.debug({ imagePath: opts.imagePath, mountPoint: opts.mountPoint, fresh }, 'agent home image mounted');
  } catch (err) {
    throw new EosError('EOS_AGENT_SPAWN_FAILED', `cannot mount the agent home image ${opts.imagePath}; needs root, mkfs.ext4, losetup and a free loop device`, {
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
