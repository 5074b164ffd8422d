import { execFile, spawn, spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { EOSD_BIN, EXAMPLES, runEosd, startDaemon, tmpDir } from './helpers/daemon.js';

const has = (cmd: string): boolean => spawnSync(cmd, ['--version']).status === 0;
if (process.env.CI && (!has('promtool') || !has('systemd-analyze'))) {
  throw new Error('CI must provide promtool (prometheus) and systemd-analyze (systemd)');
}

function run(cmd: string, args: string[], stdin = ''): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }));
    child.stdin?.end(stdin);
  });
}

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

describe('metrics and the service unit', () => {
  it.skipIf(!has('promtool'))('serves a valid Prometheus exposition with per-agent state, bus and ledger metrics', async () => {
    const d = await startDaemon({ agents: demoAgents });
    await d.out.waitFor((l) => l.agentId === 'ping' && l.msg === 'pong received');
    const url = (await d.client.getStatus()).metricsUrl;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const text = await (await fetch(url)).text();
    expect(text).toMatch(/^eosd_agent_up\{agent_id="ping"\} 1$/m);
    expect(text).toMatch(/^eosd_events_published_total\{agent_id="ping"\} [1-9]\d*$/m);
    expect(text).toMatch(/^eosd_ledger_records_total\{stream="audit"\} [1-9]\d*$/m);
    expect(text).toMatch(/^eosd_sandbox_layer_active\{layer="seccomp"\} [01]$/m);
    expect(text).toMatch(/^eosd_rpc_calls_total\{service="agent",method="Hello",code="OK"\} [1-9]\d*$/m);
    expect(text).toMatch(/^eosd_rpc_calls_total\{service="control",method="GetStatus",code="OK"\} [1-9]\d*$/m);
    expect(text).toMatch(/^eosd_rpc_duration_seconds_count\{service="agent",method="Hello"\} [1-9]\d*$/m);
    expect(text).toMatch(/^eosd_ledger_fsync_seconds_count\{stream="audit"\} [1-9]\d*$/m);
    expect(await run('promtool', ['check', 'metrics'], text)).toEqual({ code: 0, out: '' });
  });

  it.skipIf(!has('systemd-analyze'))('installs a unit that systemd-analyze verifies without a warning', async () => {
    const dir = await tmpDir();
    const unit = join(dir, 'eosd.service');
    const res = await runEosd(['service', 'install', '--out', unit]);
    expect(res.code).toBe(0);
    expect(await run('systemd-analyze', ['verify', '--man=no', unit])).toEqual({ code: 0, out: '' });
  });
});

describe('reload', () => {
  it('applies a changed agent list on eosd reload and on SIGHUP without touching unchanged agents', async () => {
    const d = await startDaemon({ agents: [demoAgents[0]!] });
    const configPath = join(d.dir, 'eosd.json');
    const base = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
    const pingBefore = await d.client.getAgent('ping');

    await writeFile(configPath, JSON.stringify({ ...base, agents: demoAgents }));
    const res = await runEosd(['reload', '--json', '--socket', d.controlSocket]);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ added: ['heartbeat'], removed: [], changed: [], unchanged: ['ping'] });
    await expect.poll(async () => (await d.client.getAgent('heartbeat')).state, { timeout: 20_000 }).toBe('running');
    expect((await d.client.getAgent('ping')).pid).toBe(pingBefore.pid);

    await writeFile(configPath, JSON.stringify({ ...base, agents: [{ ...demoAgents[1]!, stopGraceMs: 1_000 }] }));
    d.child.kill('SIGHUP');
    await d.out.waitFor((l) => l.msg === 'config reloaded' && Array.isArray(l.removed) && (l.removed as string[]).includes('ping'));
    expect((await d.client.listAgents()).map((a) => a.id)).toEqual(['heartbeat']);
    expect(d.out.lines.find((l) => l.msg === 'config reloaded' && Array.isArray(l.changed) && (l.changed as string[]).includes('heartbeat'))).toBeDefined();
    await expect.poll(async () => (await d.client.getAgent('heartbeat')).state, { timeout: 20_000 }).toBe('running');

    await writeFile(configPath, JSON.stringify({ ...base, agents: [{ id: 'broken', package: join(d.dir, 'nope'), tier: 'low' }] }));
    const bad = await runEosd(['reload', '--socket', d.controlSocket]);
    expect(bad.code).toBe(78);
    expect(bad.stderr).toContain('EOS_CONFIG_INVALID');
    expect((await d.client.listAgents()).map((a) => a.id)).toEqual(['heartbeat']);
  });
});
