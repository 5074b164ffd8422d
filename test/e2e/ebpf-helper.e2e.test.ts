import { appendFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXAMPLES, startDaemon, tmpDir } from './helpers/daemon.js';

const FIXTURES = join(EXAMPLES, '..', 'ebpf-helper', 'test', 'fixtures', 'glasswally');

describe('the ebpf helper under the daemon', () => {
  it('tails a Glasswally directory as a supervised child and delivers validated alerts to the SOC triage agent', async () => {
    const dir = await tmpDir();
    const gw = join(dir, 'gw');
    await mkdir(gw, { mode: 0o755 });
    const audit = (await readFile(join(FIXTURES, 'audit_log.jsonl'), 'utf8')).trim().split('\n');
    await writeFile(join(gw, 'audit_log.jsonl'), '', { mode: 0o644 });
    const d = await startDaemon({
      ebpf: { mode: 'tail', glasswallyDir: gw },
      agents: [{ id: 'soc-triage', package: join(EXAMPLES, 'soc-triage'), tier: 'low' }],
    });
    // "helper connected" comes after the helper's first look at the directory (which sets the start
    // offsets); lines appended before it would be skipped as history.
    await d.out.waitFor((l) => l.msg === 'helper connected');
    await appendFile(join(gw, 'audit_log.jsonl'), `${audit.join('\n')}\n`);
    // The critical enforcement action reaches the agent through the bus, with the helper as source.
    const critical = await d.out.waitFor((l) => l.agentId === 'soc-triage' && l.msg === 'critical alert', 30_000);
    expect(critical.agent).toMatchObject({ kind: 'gw_action' });
    const status = await d.client.getStatus();
    expect((JSON.parse(status.busJson.toString()) as { published: number }).published).toBeGreaterThanOrEqual(3);
    // Its counters reach the metrics.
    const text = await (await fetch(status.metricsUrl)).text();
    expect(text).toMatch(/^eosd_helper_up 1$/m);
    expect(text).toMatch(/^eosd_helper_events_total\{event="alerts_published"\} [1-9]\d*$/m);
  });
});
