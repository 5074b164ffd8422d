import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { EosError } from '@everythingos/proto';

/** Size of a secretbox key (XSalsa20-Poly1305), bytes. */
export const VAULT_KEY_BYTES = 32;

/** Mode bits a key file may have: owner read only (0400) or nothing at all. */
const KEY_FORBIDDEN_MODE_BITS = 0o377;

function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === code;
}

function insecure(message: string, details: Record<string, unknown>): EosError {
  return new EosError('EOS_VAULT_INSECURE', message, { details });
}

/** Fsync a directory so a create or rename in it survives a crash. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Make sure `dir` exists, is a real directory owned by `uid`, and is not group/world accessible.
 *
 * @throws EosError `EOS_VAULT_INSECURE` when it is a symlink, not ours, or mode is looser than 0700.
 */
export async function ensurePrivateDir(dir: string, uid: number): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const handle = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    const st = await handle.stat();
    if (st.uid !== uid) {
      throw insecure(`vault directory ${dir} is owned by uid ${st.uid}; it must be owned by ${uid}`, {
        path: dir,
      });
    }
    if ((st.mode & 0o077) !== 0) {
      throw insecure(
        `vault directory ${dir} has mode ${(st.mode & 0o777).toString(8)}; run chmod 700 ${dir}`,
        { path: dir },
      );
    }
  } catch (err) {
    if (isErrno(err, 'ELOOP')) {
      throw insecure(`vault directory ${dir} is a symlink; use the real path`, { path: dir });
    }
    throw err;
  } finally {
    await handle.close();
  }
}

async function readKey(path: string, uid: number): Promise<Uint8Array> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const st = await handle.stat();
    if (!st.isFile()) {
      throw insecure(`vault key ${path} is not a regular file`, { path });
    }
    if (st.uid !== uid) {
      throw insecure(`vault key ${path} is owned by uid ${st.uid}; it must be owned by ${uid}`, {
        path,
      });
    }
    if ((st.mode & KEY_FORBIDDEN_MODE_BITS) !== 0) {
      throw insecure(
        `vault key ${path} has mode ${(st.mode & 0o777).toString(8)}; run chmod 400 ${path}`,
        { path },
      );
    }
    if (st.size !== VAULT_KEY_BYTES) {
      throw insecure(`vault key ${path} is ${st.size} bytes; it must be ${VAULT_KEY_BYTES}`, {
        path,
      });
    }
    const key = new Uint8Array(VAULT_KEY_BYTES);
    const { bytesRead } = await handle.read(key, 0, VAULT_KEY_BYTES, 0);
    if (bytesRead !== VAULT_KEY_BYTES) {
      throw insecure(`vault key ${path} changed while it was read`, { path });
    }
    return key;
  } finally {
    await handle.close();
  }
}

/**
 * Load the vault key, or create it (32 random bytes, mode 0400, O_EXCL, fsynced) when missing.
 * An existing key is refused unless it is a regular file owned by `uid` with mode 0400 or 0000.
 *
 * @throws EosError `EOS_VAULT_INSECURE` for a looser mode, another owner, a symlink or a wrong size.
 */
export async function loadOrCreateKey(path: string, uid: number): Promise<Uint8Array> {
  try {
    await stat(path);
  } catch (err) {
    if (!isErrno(err, 'ENOENT')) {
      throw err;
    }
    await mkdir(dirname(path), { recursive: true, mode: 0o700 });
    const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
    const handle = await open(path, flags, 0o400);
    try {
      const key = randomBytes(VAULT_KEY_BYTES);
      await handle.write(key, 0, key.length, 0);
      key.fill(0);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fsyncDir(dirname(path));
  }
  try {
    return await readKey(path, uid);
  } catch (err) {
    if (isErrno(err, 'ELOOP')) {
      throw insecure(`vault key ${path} is a symlink; use the real path`, { path });
    }
    throw err;
  }
}
