import { lstat, open, readFile, readlink, realpath } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/** What must be visible (read-only) inside a sandbox for the node binary to start. */
export interface NodeRuntime {
  /** Real path of the node binary; bound at the same path. */
  nodePath: string;
  /** Directories holding node's shared libraries and loader symlinks (real paths), bound at the same paths. */
  libDirs: readonly string[];
  /** Top-level symlinks on the loader path to recreate (e.g. `/lib64 -> usr/lib64`). */
  symlinks: readonly { path: string; target: string }[];
}

const PT_INTERP = 3;
const ELF_HEADER_READ_BYTES = 64 * 1024;
const MAX_SYMLINK_HOPS = 16;

/** The PT_INTERP (dynamic loader) path of an ELF64 little-endian binary, or null if static/unknown. */
export async function readElfInterpreter(file: string): Promise<string | null> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(ELF_HEADER_READ_BYTES);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const b = buf.subarray(0, bytesRead);
    // "\x7fELF", ELFCLASS64, ELFDATA2LSB
    if (b.length < 64 || b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 2 || b[5] !== 1) {
      return null;
    }
    const phoff = Number(b.readBigUInt64LE(0x20));
    const phentsize = b.readUInt16LE(0x36);
    const phnum = b.readUInt16LE(0x38);
    for (let i = 0; i < phnum; i++) {
      const ph = phoff + i * phentsize;
      if (ph + 40 > b.length) {
        break;
      }
      if (b.readUInt32LE(ph) === PT_INTERP) {
        const off = Number(b.readBigUInt64LE(ph + 8));
        const size = Number(b.readBigUInt64LE(ph + 32));
        const nameBuf = Buffer.alloc(size);
        await fh.read(nameBuf, 0, size, off);
        return nameBuf.toString('latin1').replace(/\0+$/, '');
      }
    }
    return null;
  } finally {
    await fh.close();
  }
}

/**
 * Follows `path` component by component, recording what a sandbox must contain for the same path to
 * resolve: top-level symlinks are recreated (`--symlink`), the directory of any deeper symlink is
 * bound (it carries the link), and the directory of the final file is bound.
 */
async function collectPath(
  path: string,
  dirs: Set<string>,
  symlinks: Map<string, string>,
  hops = 0,
): Promise<void> {
  if (hops > MAX_SYMLINK_HOPS) {
    throw new Error(`too many symlinks resolving ${path}`);
  }
  const parts = path.split('/').filter(Boolean);
  let cur = '';
  for (let i = 0; i < parts.length; i++) {
    cur = `${cur}/${parts[i] ?? ''}`;
    const st = await lstat(cur);
    if (st.isSymbolicLink()) {
      const target = await readlink(cur);
      if (dirname(cur) === '/') {
        symlinks.set(cur, target);
      } else {
        dirs.add(await realpath(dirname(cur)));
      }
      const rest = parts.slice(i + 1).join('/');
      await collectPath(resolve(dirname(cur), target, rest), dirs, symlinks, hops + 1);
      return;
    }
  }
  dirs.add(dirname(cur));
}

/**
 * Finds node's runtime files without ldd: the shared objects mapped into this very process
 * (`/proc/self/maps`) give the library directories, and the binary's PT_INTERP gives the loader
 * path and its symlinks. Describes the running node (`process.execPath`); sandboxes must run that binary.
 */
export async function detectNodeRuntime(opts: { mapsFile?: string } = {}): Promise<NodeRuntime> {
  const nodePath = await realpath(process.execPath);
  const maps = await readFile(opts.mapsFile ?? '/proc/self/maps', 'utf8');
  const dirs = new Set<string>();
  const symlinks = new Map<string, string>();
  for (const line of maps.split('\n')) {
    const file = line.split(/\s+/).slice(5).join(' ');
    if (file.startsWith('/') && /\.so(\.[0-9.]+)?$/.test(file)) {
      dirs.add(dirname(await realpath(file)));
    }
  }
  const interp = await readElfInterpreter(nodePath);
  if (interp !== null) {
    await collectPath(interp, dirs, symlinks);
  }
  const libDirs = [...dirs].sort().filter((d, _i, all) => !all.some((o) => o !== d && d.startsWith(`${o}/`)));
  return { nodePath, libDirs, symlinks: [...symlinks].map(([path, target]) => ({ path, target })) };
}
