import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { EOSD_BIN, EXAMPLES, runEosd, startDaemon } from './helpers/daemon.js';

const demoAgents = [
  { id: 'ping', package: join(EXAMPLES, 'ping'), tier: 'low' as const },
  { id: 'heartbeat', package: join(EXAMPLES, 'heartbeat'), tier: 'low' as const },
];

describe('eosd logs', () => {
  it('prints recent NDJSON lines of one agent, and follows new ones', async () => {
    const d = await startDaemon({ agents: demoAgents });
    await d.out.waitFor((l) => l.agentId === 'ping' && l.msg === 'pong received');
    const res = await runEosd(['logs', 'ping', '-n', '5', '--socket', d.controlSocket]);
    expect(res.code).toBe(0);
    const lines = res.stdout.trim().split('\n').map((l) => JSON.parse(l) as { agentId: string; msg: string });
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.length).toBeLessThanOrEqual(5);
    expect(lines.every((l) => l.agentId === 'ping')).toBe(true);

    const follow = spawn(process.execPath, [EOSD_BIN, 'logs', 'heartbeat', '-f', '-n', '0', '--socket', d.controlSocket], { stdio: ['ignore', 'pipe', 'pipe'] });
    onTestFinished(() => void follow.kill('SIGKILL'));
    let out = '';
    follow.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    await expect.poll(() => out.split('\n').some((l) => l.includes('"msg":"ping received"')), { timeout: 10_000 }).toBe(true);
    expect(out.trim().split('\n').every((l) => (JSON.parse(l) as { agentId: string }).agentId === 'heartbeat')).toBe(true);
  });
});
