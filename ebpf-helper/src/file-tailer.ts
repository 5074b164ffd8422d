import { constants, type Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { LineAssembler, type AssembledLines } from './line-assembler.js';

/** Options of one {@link FileTailer}. */
export interface FileTailerOptions {
  path: string;
  /** Longest line kept, in bytes. */
  lineCapBytes: number;
  /** Largest partial line held between reads, in bytes; past it the tailer skips to the next newline. */
  bufferCapBytes: number;
  /** Most bytes read in one poll. */
  readChunkBytes: number;
  /** Read the file from its start the first time it is seen (default: start at its end). */
  fromStart: boolean;
}

/** What one poll found. */
export interface TailPoll extends AssembledLines {
  /** The file was replaced (new inode) or truncated since the last poll. */
  rotated: boolean;
  /** The path exists but is not a regular file (symlink, FIFO, device…); nothing was read. */
  rejected: 'not-regular' | null;
}

/**
 * Follows one append-only file by polling: `{dev, ino, offset}` identify what was read; a new
 * inode or a size below the offset is a rotation and reading starts over at offset 0. A missing
 * file is not an error (it is read from its start once it appears). Only regular files are read,
 * opened with O_NOFOLLOW|O_NONBLOCK, so a symlink or FIFO planted in the directory cannot
 * redirect or block the helper.
 */
export class FileTailer {
  readonly #o: FileTailerOptions;
  readonly #lines: LineAssembler;
  #identity: { dev: number; ino: number } | null = null;
  #offset = 0;
  #firstLook = true;
  #lineNo = 0;

  constructor(options: FileTailerOptions) {
    this.#o = options;
    this.#lines = new LineAssembler(options.lineCapBytes, options.bufferCapBytes);
  }

  /** Lines handed out since the file was opened or last rotated. */
  get lineNo(): number {
    return this.#lineNo;
  }

  async poll(): Promise<TailPoll> {
    const result: TailPoll = { lines: [], oversized: 0, skippedBytes: 0, rotated: false, rejected: null };
    let handle;
    try {
      handle = await open(this.#o.path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        this.#firstLook = false;
        return result;
      }
      if (code === 'ELOOP' || code === 'ENXIO') {
        result.rejected = 'not-regular';
        return result;
      }
      throw err;
    }
    try {
      const st: Stats = await handle.stat();
      if (!st.isFile()) {
        result.rejected = 'not-regular';
        return result;
      }
      const first = this.#firstLook;
      this.#firstLook = false;
      if (this.#identity === null) {
        this.#identity = { dev: st.dev, ino: st.ino };
        this.#offset = first && !this.#o.fromStart ? st.size : 0;
      } else if (this.#identity.dev !== st.dev || this.#identity.ino !== st.ino || st.size < this.#offset) {
        this.#identity = { dev: st.dev, ino: st.ino };
        this.#offset = 0;
        this.#lineNo = 0;
        this.#lines.reset();
        result.rotated = true;
      }
      if (st.size === this.#offset) {
        return result;
      }
      const want = Math.min(st.size - this.#offset, this.#o.readChunkBytes);
      const buf = Buffer.allocUnsafe(want);
      const { bytesRead } = await handle.read(buf, 0, want, this.#offset);
      this.#offset += bytesRead;
      const got = this.#lines.push(buf.subarray(0, bytesRead));
      this.#lineNo += got.lines.length + got.oversized;
      result.lines = got.lines;
      result.oversized = got.oversized;
      result.skippedBytes = got.skippedBytes;
      return result;
    } finally {
      await handle.close();
    }
  }

  /** Whether the tailed path currently exists (for tests and health). */
  async exists(): Promise<boolean> {
    return stat(this.#o.path).then(
      () => true,
      () => false,
    );
  }
}
