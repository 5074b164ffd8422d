import { execFile, spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { DaemonMetrics } from '../src/metrics/daemon-metrics.js';
import { startMetricsServer } from '../src/metrics/metrics-server.js';

const hasPromtool = spawnSync('promtool', ['--version']).status === 0;

function promtoolCheck(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile('promtool', ['check', 'metrics'], (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr });
    });
    child.stdin?.end(text);
  });
}

describe('DaemonMetrics exposition', () => {
  if (!hasPromtool && process.env.CI) {
    throw new Error('CI must provide promtool (apt package prometheus)');
  }

  it.skipIf(!hasPromtool)('is valid for promtool, served on loopback, with every family present', async () => {
    const m = new DaemonMetrics();
    m.buildInfo.set({ version: '0.1.0', protocol: '1' }, 1);
    m.agentState.set({ agent_id: 'ping', state: 'running' }, 1);
    m.rpcCalls.inc({ service: 'agent', method: 'Emit', code: 'OK' });
    m.rpcDuration.observe({ service: 'agent', method: 'Emit' }, 0.0004);
    m.authFailures.inc({ reason: 'replay' });
    m.ledgerFsync.observe({ stream: 'decisions' }, 0.002);
    const srv = await startMetricsServer(m, { host: '127.0.0.1', port: 0 }, pino({ level: 'silent' }));
    try {
      expect(srv.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      const res = await fetch(srv.url);
      expect(res.headers.get('content-type')).toContain('text/plain');
      const text = await res.text();
      for (const family of ['eosd_build_info', 'eosd_agent_state', 'eosd_rpc_calls_total', 'eosd_rpc_duration_seconds_bucket', 'eosd_auth_failures_total', 'process_cpu_seconds_total', 'nodejs_eventloop_lag_seconds']) {
        expect(text).toContain(family);
      }
      expect(await promtoolCheck(text)).toEqual({ code: 0, output: '' });
      expect((await fetch(srv.url.replace('/metrics', '/other'))).status).toBe(404);
    } finally {
      await srv.close();
    }
  });

  it.skipIf(!hasPromtool)('promtool really rejects a broken exposition', async () => {
    expect((await promtoolCheck('# TYPE x counter\nx{a="1" 1\n')).code).not.toBe(0);
  });
});
