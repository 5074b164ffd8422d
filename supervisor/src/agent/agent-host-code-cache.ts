import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { encodeBootstrap, PROTOCOL_VERSION } from '@everythingos/proto';
import type { Logger } from 'pino';

/** Time one cache production may take before the agent starts without a cache. */
const PRODUCE_TIMEOUT_MS = 30_000;
/** Longest Unix socket path Linux takes (108 bytes with the terminating NUL). */
const MAX_SOCKET_PATH = 107;

/** Options of {@link AgentHostCodeCache}. */
export interface AgentHostCodeCacheOptions {
  /** The code-cached start script, `agent-host/dist/bundle/agent-host.cjs` (its body sits next to it). */
  loaderPath: string;
  /** Where caches are written: a directory only root can write (created 0755). */
  dir: string;
  /** The node binary agents run (V8 caches are per V8 version and flags). @defaultValue process.execPath */
  nodePath?: string;
  logger: Logger;
}

/**
 * V8 code caches for agent-host's CommonJS bundle, one per set of V8 flags the agents run with
 * (today only `--max-old-space-size` varies). Produced by the supervisor, as root, by running the
 * loader with `--produce-code-cache` and `--train-socket`: one whole start (bootstrap, Hello, Session,
 * import of a no-op agent the loader writes itself, onStart, Ready) against a stand-in supervisor in
 * the loader, so the functions compiled on that path are in the cache, not only the bundle's top level
 * (the fallback when the training start fails). No agent package is involved. The cache goes into a
 * root-owned directory that sandboxes bind read-only; agents never write it. The file name carries
 * the SHA-256 of the body, the node binary's path and version and the flags, because V8 itself checks
 * only the source length. A failed production is logged and the agent starts without a cache.
 */
export class AgentHostCodeCache {
  readonly dir: string;
  readonly #o: AgentHostCodeCacheOptions;
  readonly #byHeap = new Map<number, Promise<string | null>>();
  #bodyHash: Promise<string> | null = null;

  constructor(opts: AgentHostCodeCacheOptions) {
    this.#o = opts;
    this.dir = opts.dir;
  }

  /** The cache for agents whose V8 heap is capped at `heapMiB`, produced on first use; null when it cannot be made. */
  pathFor(heapMiB: number): Promise<string | null> {
    let p = this.#byHeap.get(heapMiB);
    if (p === undefined) {
      p = this.#produce(heapMiB);
      this.#byHeap.set(heapMiB, p);
    }
    return p;
  }

  #hashBody(): Promise<string> {
    this.#bodyHash ??= readFile(join(this.#o.loaderPath, '..', 'agent-host-body.cjs')).then((b) =>
      createHash('sha256').update(b).update(this.#o.nodePath ?? process.execPath).update(process.version).digest('hex').slice(0, 24),
    );
    return this.#bodyHash;
  }

  async #produce(heapMiB: number): Promise<string | null> {
    const flag = `--max-old-space-size=${heapMiB}`;
    try {
      const file = join(this.dir, `agent-host-${await this.#hashBody()}-${heapMiB}.v8cache`);
      try {
        await stat(file);
        return file;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
          throw err;
        }
      }
      await mkdir(this.dir, { recursive: true, mode: 0o755 });
      await chmod(this.dir, 0o755);
      const tmp = `${file}.${process.pid}.tmp`;
      await rm(tmp, { force: true });
      const socketPath = join(this.dir, `train-${process.pid}-${heapMiB}.sock`);
      try {
        if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
          throw new Error(`training socket path ${socketPath} is too long`);
        }
        const bootstrap = encodeBootstrap({
          protocolVersion: PROTOCOL_VERSION,
          agentId: 'code-cache',
          socketPath,
          sessionKey: randomBytes(32),
          packageDir: this.dir,
        });
        await this.#runLoader([flag, this.#o.loaderPath, `--produce-code-cache=${tmp}`, `--train-socket=${socketPath}`], bootstrap);
      } catch (err) {
        this.#o.logger.warn({ err, flag }, 'agent-host code cache training start failed; caching the top level only');
        // The loader removes its warm-up agent and socket itself, unless it was killed (timeout).
        await Promise.all([tmp, `${tmp}.warm-up.mjs`, socketPath].map((f) => rm(f, { force: true })));
        // No fd 3: the body's main fails after its top level ran; the loader writes the cache first.
        await this.#runLoader([flag, this.#o.loaderPath, `--produce-code-cache=${tmp}`], null);
      }
      await chmod(tmp, 0o644);
      await rename(tmp, file);
      this.#o.logger.debug({ file, flag }, 'agent-host code cache produced');
      return file;
    } catch (err) {
      this.#o.logger.warn({ err, flag }, 'cannot produce the agent-host code cache; agents compile agent-host at each start');
      return null;
    }
  }

  /** Runs the loader (as this process, empty environment) with `bootstrap` on fd 3 if given; rejects unless it exits 0. */
  #runLoader(args: string[], bootstrap: Buffer | null): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const child = spawn(this.#o.nodePath ?? process.execPath, args, {
        env: {},
        cwd: '/',
        stdio: ['ignore', 'ignore', 'pipe', bootstrap === null ? 'ignore' : 'pipe'],
      });
      let stderr = '';
      child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
        stderr = (stderr + chunk).slice(-4096);
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), PRODUCE_TIMEOUT_MS);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('close', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) {
          resolve();
        } else {
          reject(new Error(`agent-host loader ended with ${signal ?? `exit ${String(code)}`}: ${stderr.trim()}`));
        }
      });
      if (bootstrap !== null) {
        // The pipe stays open (the host's lifeline) until the loader exits.
        const lifeline = child.stdio[3] as Writable;
        lifeline.on('error', (err) => this.#o.logger.debug({ err }, 'code cache training: bootstrap pipe error'));
        lifeline.write(bootstrap);
      }
    });
  }
}
