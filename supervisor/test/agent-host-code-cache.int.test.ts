import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { AgentHostCodeCache } from '../src/agent/agent-host-code-cache.js';

const execFileAsync = promisify(execFile);
const LOADER = fileURLToPath(new URL('../../agent-host/dist/bundle/agent-host.cjs', import.meta.url));
const log = pino({ level: 'silent' });

/** Runs the code-cached start without a bootstrap (fd 3): it loads, then exits 3; returns stderr. */
async function runLoader(args: string[]): Promise<string> {
  try {
    await execFileAsync(process.execPath, args, { env: {} });
    throw new Error('agent-host ran without a bootstrap');
  } catch (err) {
    const e = err as { code?: number; stderr?: string };
    expect(e.code).toBe(3);
    return e.stderr ?? '';
  }
}

describe.skipIf(!existsSync(LOADER))('AgentHostCodeCache (needs `pnpm build`)', () => {
  let dir: string | null = null;
  afterEach(async () => {
    if (dir !== null) {
      await rm(dir, { recursive: true, force: true });
      dir = null;
    }
  });

  it('produces one read-only cache per heap flag, reuses it, and V8 accepts it only with that flag', async () => {
    dir = await mkdtemp(join(tmpdir(), 'eosd-cc-'));
    const cache = new AgentHostCodeCache({ loaderPath: LOADER, dir: join(dir, 'cc'), logger: log });
    const file = await cache.pathFor(96);
    expect(file).not.toBeNull();
    const st = await stat(file!);
    expect(st.mode & 0o777).toBe(0o644);
    expect((await stat(join(dir, 'cc'))).mode & 0o777).toBe(0o755);
    expect(file).toMatch(/agent-host-[0-9a-f]{24}-96\.v8cache$/);
    // Same flag: the same file, not produced again (a new instance finds it on disk).
    expect(await new AgentHostCodeCache({ loaderPath: LOADER, dir: join(dir, 'cc'), logger: log }).pathFor(96)).toBe(file);
    expect(await readdir(join(dir, 'cc'))).toHaveLength(1);

    expect(await runLoader(['--max-old-space-size=96', LOADER, `--code-cache=${file}`])).not.toMatch(/rejected/);
    // Other V8 flags: V8 rejects the cache and the host still loads (compiles without it).
    expect(await runLoader(['--max-old-space-size=128', LOADER, `--code-cache=${file}`])).toMatch(/rejected by V8/);
  }, 60_000);

  it('trains the cache on a whole start (Hello, Session, a no-op agent, Ready): it holds more than the top level, nothing is left behind', async () => {
    dir = await mkdtemp(join(tmpdir(), 'eosd-cc-'));
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
    const file = await new AgentHostCodeCache({ loaderPath: LOADER, dir: join(dir, 'cc'), logger }).pathFor(96);
    expect(file).not.toBeNull();
    expect(lines.join('')).not.toMatch(/training start failed/);
    // The training socket and the no-op agent are gone; only the cache remains.
    expect(await readdir(join(dir, 'cc'))).toEqual([file!.split('/').pop()]);
    // The top level alone, as the fallback produces it: the trained cache also holds the functions
    // compiled on the start path.
    const topOnly = join(dir, 'top.v8cache');
    await execFileAsync(process.execPath, ['--max-old-space-size=96', LOADER, `--produce-code-cache=${topOnly}`], { env: {} });
    expect((await stat(file!)).size).toBeGreaterThan((await stat(topOnly)).size * 1.3);
    expect(await runLoader(['--max-old-space-size=96', LOADER, `--code-cache=${file}`])).not.toMatch(/rejected/);
  }, 60_000);

  it('returns null (agents start without a cache) when the cache cannot be produced', async () => {
    dir = await mkdtemp(join(tmpdir(), 'eosd-cc-'));
    await writeFile(join(dir, 'cc'), 'not a directory');
    const cache = new AgentHostCodeCache({ loaderPath: LOADER, dir: join(dir, 'cc'), logger: log });
    expect(await cache.pathFor(96)).toBeNull();
  });
});
