// The examples of examples/ as real packages under the real daemon. Each example is driven by a small
// scripted peer from test/fixtures/agents (it publishes a fixed script when started and logs every
// event it observes as "peer observed"), so every event crosses the supervisor's ACL and bus.
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { startFakeLlmServer } from '../fixtures/fake-llm-server.js';
import { EOSD_BIN, EXAMPLES, fixtureAgent, runEosd, startDaemon, tmpDir, type LogLine, type RunningDaemon } from './helpers/daemon.js';

const isRoot = process.getuid?.() === 0;

interface Observed<T = Record<string, unknown>> {
  channel: string;
  source: string;
  payload: T;
}

/** The events a scripted peer logged as observed, in order. */
function observed<T = Record<string, unknown>>(d: RunningDaemon, peer: string, channel?: string): Observed<T>[] {
  return d.out.lines
    .filter((l) => l.agentId === peer && l.msg === 'peer observed')
    .map((l) => l.agent as Observed<T>)
    .filter((o) => channel === undefined || o.channel === channel);
}

/** Waits until `peer` observed `n` events on `channel`; returns them. */
async function waitObserved<T = Record<string, unknown>>(d: RunningDaemon, peer: string, channel: string, n: number): Promise<Observed<T>[]> {
  await d.out.waitFor(() => observed(d, peer, channel).length >= n, 30_000);
  return observed<T>(d, peer, channel);
}

/** Starts a scripted peer (autostart off) once the example runs, so the example has subscribed first. */
async function startPeer(d: RunningDaemon, peer: string): Promise<void> {
  await expect(d.client.startAgent(peer)).resolves.toMatchObject({ state: 'running' });
}

const peer = (id: string) => ({ id, package: fixtureAgent(id), tier: 'low' as const, autostart: false, restart: 'temporary' as const });

interface LedgerRecord {
  kind: string;
  agent: string | null;
  payload: Record<string, unknown>;
}
/** A ledger's records, read with the operator's tool. */
async function ledger(stateDir: string, stream: 'audit' | 'decisions'): Promise<LedgerRecord[]> {
  const res = await runEosd(['ledger', 'query', '--stream', stream, '--state-dir', stateDir, '--limit', '100000']);
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  return res.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as LedgerRecord);
}

/** `eosd <args>` with `input` on stdin. */
async function runEosdWithInput(args: string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [EOSD_BIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  child.stdin.end(input);
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

async function setSecret(stateDir: string, name: string, value: string): Promise<void> {
  const res = await runEosdWithInput(['secrets', 'set', name, '--state-dir', stateDir], value);
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
}

describe('examples/soc-triage', () => {
  it('deduplicates alerts and opens one incident per distinct CRITICAL alert', async () => {
    const d = await startDaemon({
      agents: [{ id: 'soc-triage', package: join(EXAMPLES, 'soc-triage'), tier: 'low' }, peer('soc-feeder')],
    });
    await startPeer(d, 'soc-feeder');
    const incidents = await waitObserved<{ severity: string; kind: string; agentId: string; title: string }>(d, 'soc-feeder', 'soc.incident', 2);
    expect(incidents.map((i) => i.source)).toEqual(['soc-triage', 'soc-triage']);
    expect(incidents.map((i) => i.payload)).toMatchObject([
      { severity: 'CRITICAL', kind: 'container_escape', agentId: 'agent-a', title: 'setns from an agent' },
      { severity: 'CRITICAL', kind: 'ptrace', agentId: 'agent-c', title: 'ptrace of the supervisor' },
    ]);
    // The duplicate CRITICAL and the HIGH alert opened no incident.
    await new Promise((r) => setTimeout(r, 300));
    expect(observed(d, 'soc-feeder', 'soc.incident')).toHaveLength(2);
    expect(d.out.count((l) => l.agentId === 'soc-triage' && l.msg === 'critical alert')).toBe(2);
  });
});

describe('examples/summariser', () => {
  it('summarises with a local OpenAI-compatible model, flags an injection and records llm.think', async () => {
    const apiKey = 'sk-local-test-0123456789';
    const llm = await startFakeLlmServer(apiKey);
    onTestFinished(() => llm.close());
    const dir = await tmpDir();
    const stateDir = join(dir, 's');
    await setSecret(stateDir, 'local-llm-key', apiKey);
    const hostPort = `127.0.0.1:${llm.port}`;
    const d = await startDaemon({
      stateDir,
      egress: { operatorAllowlist: [hostPort] },
      llm: { providers: [{ name: 'local', kind: 'openai', baseUrl: `http://${hostPort}/v1`, apiKeySecret: 'local-llm-key', models: ['llama3.2'] }] },
      agents: [{ id: 'summariser', package: join(EXAMPLES, 'summariser'), tier: 'medium' }, peer('docs-client')],
    });
    await startPeer(d, 'docs-client');
    const summaries = await waitObserved<{ id: string; summary: string; injectionDetected: boolean; categories: string[] }>(d, 'docs-client', 'docs.summary', 2);
    const byId = new Map(summaries.map((s) => [s.payload.id, s]));
    expect(byId.get('plain')).toMatchObject({ source: 'summariser', payload: { injectionDetected: false, categories: [] } });
    expect(byId.get('plain')?.payload.summary).toMatch(/^summary \(\d+ chars\)$/);
    expect(byId.get('hostile')?.payload.injectionDetected).toBe(true);
    expect(byId.get('hostile')?.payload.categories.length).toBeGreaterThan(0);
    expect(byId.get('hostile')?.payload.summary).toMatch(/^summary \(\d+ chars\)$/);

    // The model saw the template with the documents; the key went to the provider only as its header.
    const prompts = llm.requests.map((r) => JSON.stringify(r.body));
    expect(prompts).toHaveLength(2);
    expect(prompts.every((p) => p.includes('SUMMARISE the document below'))).toBe(true);
    expect(llm.requests.every((r) => r.headers.authorization === `Bearer ${apiKey}`)).toBe(true);
    expect(d.out.raw).not.toContain(apiKey);

    // The operator fingerprints the model: the first run records a signed baseline, the next matches it.
    const first = await runEosd(['models', 'fingerprint', 'local:llama3.2', '--json', '--socket', d.controlSocket]);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ model: 'local:llama3.2', baselineRecorded: true, drift: false, failedProbes: [] });
    const second = await runEosd(['models', 'fingerprint', 'local:llama3.2', '--json', '--socket', d.controlSocket]);
    expect(JSON.parse(second.stdout)).toMatchObject({ baselineRecorded: false, drift: false, fingerprintHash: (JSON.parse(first.stdout) as { fingerprintHash: string }).fingerprintHash });
    const notAllowed = await runEosd(['models', 'fingerprint', 'local:other', '--socket', d.controlSocket]);
    expect(notAllowed.stderr).toContain('EOS_MODEL_NOT_ALLOWED');

    const thinks = (await ledger(stateDir, 'decisions')).filter((r) => r.kind === 'llm.think' && r.agent === 'summariser');
    expect(thinks).toHaveLength(2);
    for (const r of thinks) {
      expect(r.payload).toMatchObject({ model: 'local:llama3.2', inputHash: expect.any(String), outputHash: expect.any(String), usage: { output: 7 } });
    }
  });
});

describe('examples/actuator', () => {
  it('holds every act for a signed approval: approve delivers it and records agent.act, deny answers EOS_APPROVAL_DENIED', async () => {
    if (!isRoot) {
      if (process.env.CI === 'true') {
        throw new Error('CI must run this test as root: a HIGH-tier agent needs the full sandbox');
      }
      console.warn('skipped: a HIGH-tier agent needs the full sandbox, which needs root');
      return;
    }
    const dir = await tmpDir();
    const keyPath = join(dir, 'alice.key');
    const init = await runEosd(['keys', 'approver', 'init', '--id', 'alice', '--out', keyPath, '--json']);
    expect(init.code).toBe(0);
    const { approver } = JSON.parse(init.stdout) as { approver: { id: string; publicKey: string } };
    const stateDir = join(dir, 's');
    const d = await startDaemon({
      stateDir,
      approvals: { approvers: [approver] },
      agents: [{ id: 'actuator', package: join(EXAMPLES, 'actuator'), tier: 'high' }, peer('actuator-operator')],
    });
    const sock = ['--socket', d.controlSocket];
    await startPeer(d, 'actuator-operator');

    type Pending = { id: string; kind: string; agentId: string; state: string; summary: string };
    const pending = async (): Promise<Pending[]> => {
      const ls = await runEosd(['approvals', 'ls', '--json', ...sock]);
      expect(ls.code).toBe(0);
      return (JSON.parse(ls.stdout) as Pending[]).filter((a) => a.state === 'pending');
    };
    // The first command's act waits; the agent handles events one at a time, so the second one waits behind it.
    await expect.poll(pending, { timeout: 15_000 }).toHaveLength(1);
    const [first] = await pending();
    expect(first).toMatchObject({ agentId: 'actuator', state: 'pending' });
    expect(observed(d, 'actuator-operator', 'actuator.action')).toEqual([]);
    // A human takes longer than an ordinary call's 30 s deadline: the agent keeps waiting for the decision.
    await new Promise((r) => setTimeout(r, 31_000));
    expect(observed(d, 'actuator-operator', 'actuator.result')).toEqual([]);

    const approved = await runEosd(['approve', String(first?.id), '--reason', 'irrigation is due', '--key', keyPath, ...sock]);
    expect(approved.stderr).toBe('');
    expect(approved.code).toBe(0);
    const [action] = await waitObserved(d, 'actuator-operator', 'actuator.action', 1);
    expect(action).toMatchObject({ source: 'actuator', payload: { id: 'cmd-1', device: 'valve-3', action: 'open' } });

    await expect.poll(pending, { timeout: 15_000 }).toHaveLength(1);
    const [second] = await pending();
    expect(second?.id).not.toBe(first?.id);
    const denied = await runEosd(['deny', String(second?.id), '--reason', 'nobody asked for that', '--key', keyPath, ...sock]);
    expect(denied.code).toBe(0);
    const results = await waitObserved<{ id: string; outcome: string; code?: string; eventId?: string }>(d, 'actuator-operator', 'actuator.result', 2);
    expect(results.map((r) => r.payload)).toMatchObject([
      { id: 'cmd-1', outcome: 'done', eventId: expect.any(String) },
      { id: 'cmd-2', outcome: 'refused', code: 'EOS_APPROVAL_DENIED' },
    ]);
    // The denied action never reached the device controller.
    expect(observed(d, 'actuator-operator', 'actuator.action')).toHaveLength(1);

    const acts = (await ledger(stateDir, 'decisions')).filter((r) => r.kind === 'agent.act' && r.agent === 'actuator');
    expect(acts).toMatchObject([{ payload: { channel: 'actuator.action', eventId: results[0]?.payload.eventId } }]);
    const decided = (await ledger(stateDir, 'audit')).filter((r) => r.kind === 'approval.decided').map((r) => r.payload);
    expect(decided).toMatchObject([
      { requestId: first?.id, decision: 'approve', approverKeyId: 'alice' },
      { requestId: second?.id, decision: 'deny', approverKeyId: 'alice' },
    ]);
  });
});

describe('examples/webhook', () => {
  it('delivers with an injected vault credential the agent never sees, and SSRF is refused with EOS_EGRESS_BLOCKED', async () => {
    const token = 'whk-s3cr3t-7f1c9a2b4d6e8f00';
    const seen: { url: string; headers: IncomingHttpHeaders; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (c: string) => (body += c));
      req.on('end', () => {
        seen.push({ url: req.url ?? '', headers: req.headers, body });
        // A careless (or hostile) server that reflects the Authorization header it got.
        res.writeHead(200, { 'content-type': 'text/plain' }).end(`received with ${String(req.headers.authorization)}`);
      });
    });
    // The example's manifest allows exactly this host:port (see examples/webhook/README.md).
    server.listen(18089, '127.0.0.1');
    await once(server, 'listening');
    onTestFinished(() => new Promise<void>((r) => server.close(() => r())));

    const dir = await tmpDir();
    const stateDir = join(dir, 's');
    await setSecret(stateDir, 'webhook-token', token);
    const d = await startDaemon({
      stateDir,
      egress: { operatorAllowlist: ['127.0.0.1:18089'] },
      agents: [
        { id: 'webhook', package: join(EXAMPLES, 'webhook'), tier: 'low', credentials: [{ secret: 'webhook-token', host: '127.0.0.1' }] },
        peer('webhook-client'),
      ],
    });
    await startPeer(d, 'webhook-client');
    const [delivered] = await waitObserved(d, 'webhook-client', 'webhook.delivered', 1);
    expect(delivered).toMatchObject({ source: 'webhook', payload: { id: 'n-1', status: 200 } });
    const failed = await waitObserved(d, 'webhook-client', 'webhook.failed', 2);
    expect(failed.map((f) => f.payload)).toEqual([
      { id: 'n-2', code: 'EOS_EGRESS_BLOCKED' },
      { id: 'n-3', code: 'EOS_EGRESS_BLOCKED' },
    ]);

    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ url: '/hook', headers: { authorization: `Bearer ${token}` } });
    expect(JSON.parse(String(seen[0]?.body))).toEqual({ id: 'n-1', text: 'build 42 passed' });

    // The agent never held the secret: not in anything it logged or emitted, nor in its state.
    const fromAgent = d.out.lines.filter((l: LogLine) => l.agentId === 'webhook' || l.agentId === 'webhook-client');
    expect(fromAgent.length).toBeGreaterThan(0);
    const answered = d.out.lines.find((l) => l.agentId === 'webhook' && l.msg === 'webhook answered');
    expect(answered?.agent).toMatchObject({ id: 'n-1', status: 200, body: 'received with Bearer [REDACTED]' });
    expect(JSON.stringify(fromAgent)).not.toContain(token);
    expect(d.out.raw).not.toContain(token);
  });
});
