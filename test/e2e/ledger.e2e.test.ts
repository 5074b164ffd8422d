import { once } from 'node:events';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fixtureAgent, runEosd, startDaemon, type LogLine } from './helpers/daemon.js';

interface LedgerLine {
  seq: number;
  kind: string;
  agent: string | null;
  payload: Record<string, unknown>;
}

async function query(stateDir: string, stream: string, extra: string[] = []): Promise<LedgerLine[]> {
  const res = await runEosd(['ledger', 'query', '--stream', stream, '--state-dir', stateDir, '--limit', '10000000', ...extra], 60_000);
  expect(res.code, res.stderr).toBe(0);
  return res.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as LedgerLine);
}

describe('ledger under the daemon', () => {
  it('keeps every acknowledged act across a SIGKILL of the supervisor, verifies, and records the recovery', async () => {
    const agent = { id: 'bench-actor', package: fixtureAgent('bench-actor'), tier: 'low' as const, rateLimit: { eventsPerSec: 1e6, burst: 1e6 } };
    const d = await startDaemon({ agents: [agent], logLevel: 'debug' });
    const stateDir = join(d.dir, 's');
    // The actor acts at full speed from 64 loops; the supervisor logs each act it acknowledged.
    const acked = (): LogLine[] => d.out.lines.filter((l) => l.agentId === 'bench-actor' && l.msg === 'agent act');
    await expect.poll(() => acked().length, { timeout: 30_000, interval: 20 }).toBeGreaterThanOrEqual(200);
    d.child.kill('SIGKILL');
    await once(d.child, 'exit');
    // Everything the supervisor acknowledged before it died (logged after the durable append).
    const ackedIds = new Set(acked().map((l) => l.eventId as string));
    expect(ackedIds.size).toBeGreaterThanOrEqual(200);

    // Restart on the same state: the ledger is verified, a torn tail (if any) truncated and recorded.
    const configPath = join(d.dir, 'eosd.json');
    const config = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>;
    await writeFile(configPath, JSON.stringify({ ...config, agents: [{ ...agent, autostart: false }] }));
    const d2 = await startDaemon({ ...config, agents: [{ ...agent, autostart: false }] } as never, { reuseDir: d.dir });
    await d2.client.getStatus();
    d2.child.kill('SIGTERM');
    await once(d2.child, 'exit');

    const decisions = await query(stateDir, 'decisions', ['--kind', 'agent.act']);
    const recorded = new Set(decisions.map((r) => r.payload.eventId as string));
    const missing = [...ackedIds].filter((id) => !recorded.has(id));
    expect(missing).toEqual([]);
    for (const stream of ['decisions', 'audit']) {
      const v = await runEosd(['ledger', 'verify', '--json', '--stream', stream, '--state-dir', stateDir], 120_000);
      expect(v.code, v.stdout + v.stderr).toBe(0);
      expect(JSON.parse(v.stdout)).toMatchObject({ valid: true });
    }
    // The crash left the ledger open: the restart says so in a record of its own.
    const recovery = await query(stateDir, 'decisions', ['--kind', 'ledger.recovery']);
    expect(recovery).toHaveLength(1);
    expect(recovery[0]!.payload).toMatchObject({ headSize: expect.any(Number) });
  });

  it('refuses to start on a tampered ledger and names it, unless the operator accepts a reset, which is recorded', async () => {
    const d = await startDaemon({ agents: [] });
    const stateDir = join(d.dir, 's');
    d.child.kill('SIGTERM');
    await once(d.child, 'exit');
    const seg = join(stateDir, 'ledger', 'audit', 'segment-000001.jsonl');
    const text = await readFile(seg, 'utf8');
    await writeFile(seg, text.replace('"ledger.open"', '"ledger.opex"'));
    const verify = await runEosd(['ledger', 'verify', '--json', '--stream', 'audit', '--state-dir', stateDir]);
    expect(verify.code).toBe(1);
    expect(JSON.parse(verify.stdout)).toMatchObject({ valid: false });
    const config = join(d.dir, 'eosd.json');
    const refused = await runEosd(['start', '--config', config], 60_000);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/EOS_LEDGER_(TAMPERED|REGRESSED)/);
    const d2 = await startDaemon(JSON.parse(await readFile(config, 'utf8')) as never, { reuseDir: d.dir, extraArgs: ['--accept-ledger-reset'] });
    d2.child.kill('SIGTERM');
    await once(d2.child, 'exit');
    const audit = await query(stateDir, 'audit');
    expect(audit.map((r) => r.kind).some((k) => /reset|recover/.test(k))).toBe(true);
  });
});
