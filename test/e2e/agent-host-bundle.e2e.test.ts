import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXAMPLES, startDaemon } from './helpers/daemon.js';

// The code-cached start of the bundle (CommonJS body + V8 code cache, docs/performance.md P5).
const BUNDLE_SUFFIX = '/agent-host/dist/bundle/agent-host.cjs';
const IS_ROOT = process.getuid?.() === 0;

async function cmdline(pid: number): Promise<string[]> {
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter((a) => a !== '');
}

describe('agent-host bundle', () => {
  it('runs every agent from the one-file bundle that `pnpm build` makes, and agents talk through it', async () => {
    const d = await startDaemon({
      agents: [
        { id: 'ping', package: join(EXAMPLES, 'ping'), tier: 'low' },
        { id: 'heartbeat', package: join(EXAMPLES, 'heartbeat'), tier: 'low' },
      ],
    });
    // Emit, subscribe and delivery all pass through the bundled grpc-js and protobuf codecs.
    await d.out.waitFor((l) => l.agentId === 'ping' && l.msg === 'pong received');
    for (const id of ['ping', 'heartbeat']) {
      const info = await d.client.getAgent(id);
      expect(info.state).toBe('running');
      const argv = await cmdline(info.pid);
      const script = argv.find((a) => !a.startsWith('-') && a.includes('/agent-host/dist/'));
      // Not the module tree (dist/bin/agent-host.js): the supervisor falls back to it only when
      // the bundle is missing or older than the compiled code, and says so at warn.
      expect(script, argv.join(' ')).toMatch(new RegExp(`${BUNDLE_SUFFIX.replace(/[./]/g, '\\$&')}$`));
      // As root the supervisor produced the V8 code cache and binds that one file read-only.
      expect(argv.includes('--code-cache=/run/eos-cache/agent-host.v8cache'), argv.join(' ')).toBe(IS_ROOT);
    }
    // The sandbox shows the bundle's own directory of agent-host, not the package and its dependencies.
    const argv = await cmdline((await d.client.getAgent('ping')).pid);
    const hostReads = argv.filter((a) => a.startsWith('--allow-fs-read=') && a.includes('/agent-host/'));
    if (argv.includes('--experimental-permission')) {
      expect(hostReads.map((a) => a.replace(/^.*\/agent-host/, 'agent-host'))).toEqual(['agent-host/dist/bundle']);
    }
    expect(d.out.lines.some((l) => typeof l.msg === 'string' && l.msg.startsWith('agent-host bundle'))).toBe(false);
    // V8 accepted the cache (the loader reports a rejected one on stderr) and it was produced without error.
    expect(JSON.stringify(d.out.lines)).not.toMatch(/rejected by V8|cannot produce the agent-host code cache/);
  });
});
