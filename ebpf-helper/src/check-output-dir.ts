import { lstat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { EosError } from '@everythingos/proto';

/**
 * Checks the Glasswally output directory before the helper trusts anything in it: an absolute
 * path, a real directory (not a symlink), and not writable by group or others, because the
 * unsigned records in it are trusted only as far as the directory's permissions allow.
 * @throws EosError `EOS_CONFIG_INVALID` for a relative path, a missing path or a non-directory;
 * `EOS_PERMISSION_DENIED` for a symlink or a group/world-writable directory.
 */
export async function checkOutputDir(dir: string): Promise<void> {
  if (!isAbsolute(dir)) {
    throw new EosError('EOS_CONFIG_INVALID', `glasswally output dir must be absolute, got ${JSON.stringify(dir)}`);
  }
  let st;
  try {
    st = await lstat(dir);
  } catch (err) {
    throw new EosError('EOS_CONFIG_INVALID', `glasswally output dir ${dir} cannot be read; create it or fix --dir`, { cause: err });
  }
  if (st.isSymbolicLink()) {
    throw new EosError('EOS_PERMISSION_DENIED', `glasswally output dir ${dir} is a symlink; give the real path`);
  }
  if (!st.isDirectory()) {
    throw new EosError('EOS_CONFIG_INVALID', `glasswally output dir ${dir} is not a directory`);
  }
  if ((st.mode & 0o022) !== 0) {
    throw new EosError(
      'EOS_PERMISSION_DENIED',
      `glasswally output dir ${dir} has mode ${(st.mode & 0o777).toString(8)}; it must not be group- or world-writable (chmod go-w)`,
    );
  }
}
