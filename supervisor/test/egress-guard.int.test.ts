import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { createEgressFetch, resolveDialTargets, HostAllowlist, systemResolver } from '../src/security/egress/index.js';
import type { EgressAuditEvent, EgressConfigInput, HostResolver } from '../src/security/egress/index.js';
import { Vault } from '../src/security/vault/index.js';

const logger = pino({ level: 'silent' });
const SECRET = 'sk-test_Zq8XyW4vUt2sR0pOnMlK';

interface Listener {
  server: Server;
  port: number;
  hits: { path: string; headers: IncomingHttpHeaders; body: string }[];
}

async function listen(host: string): Promise<Listener> {
  const hits: Listener['hits'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      hits.push({ path: url.pathname, headers: req.headers, body: Buffer.concat(chunks).toString() });
      switch (url.pathname) {
        case '/redirect':
          res.writeHead(Number(url.searchParams.get('status') ?? 302), { location: url.searchParams.get('to') ?? '/' });
          res.end();
          return;
        case '/loop':
          res.writeHead(302, { location: '/loop' });
          res.end();
          return;
        case '/headers':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(req.headers));
          return;
        case '/echo-secret':
          res.writeHead(200, { 'x-leak': Buffer.from(SECRET).toString('base64') });
          res.end(`raw=${SECRET} hex=${Buffer.from(SECRET).toString('hex')} url=${encodeURIComponent(SECRET)}`);
          return;
        case '/gzip-secret':
          res.writeHead(200, { 'content-encoding': 'gzip' });
          res.end(gzipSync(Buffer.from(`compressed ${SECRET} inside`)));
          return;
        case '/big':
          res.writeHead(200, { 'content-length': String(2 * 1024 * 1024) });
          res.end(Buffer.alloc(2 * 1024 * 1024, 0x61));
          return;
        case '/big-chunked': {
          res.writeHead(200);
          let sent = 0;
          const pump = (): void => {
            while (sent < 4 * 1024 * 1024) {
              sent += 64 * 1024;
              if (!res.write(Buffer.alloc(64 * 1024, 0x62))) {
                res.once('drain', pump);
                return;
              }
            }
            res.end();
          };
          res.on('error', () => undefined);
          pump();
          return;
        }
        case '/slow':
          res.writeHead(200);
          res.write('partial');
          return; // never ends: the total time cap must cut it
        default:
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end(`hello from ${url.pathname}`);
      }
    });
  });
  server.listen(0, host);
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port, hits };
}

let v4: Listener;
let v4b: Listener;
let v6: Listener | null = null;
const resolverCalls: string[] = [];

const names: Record<string, string[]> = {
  'evil.test': ['127.0.0.1'],
  'rebind.test': ['93.184.215.14', '127.0.0.1'],
  'v6evil.test': ['::1'],
  'mapped.test': ['::ffff:127.0.0.1'],
  'meta.test': ['169.254.169.254'],
  'private.test': ['10.0.0.7'],
  'allowed.test': ['127.0.0.1'],
  'other.test': ['127.0.0.1'],
};

const resolver: HostResolver = async (hostname) => {
  resolverCalls.push(hostname);
  const mapped = names[hostname];
  if (mapped !== undefined) {
    return mapped.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  }
  return systemResolver(hostname);
};

beforeAll(async () => {
  v4 = await listen('127.0.0.1');
  v4b = await listen('127.0.0.1');
  try {
    v6 = await listen('::1');
  } catch (err) {
    if (process.env.CI) {
      throw err;
    }
    v6 = null; // no IPv6 loopback on this host: the ::1 cases below are skipped
  }
});

afterAll(async () => {
  for (const l of [v4, v4b, v6]) {
    l?.server.closeAllConnections();
    l?.server.close();
  }
});

function totalHits(): number {
  return v4.hits.length + v4b.hits.length + (v6?.hits.length ?? 0);
}

async function makeGuard(config: Partial<EgressConfigInput> = {}, withVault = false) {
  const events: EgressAuditEvent[] = [];
  let vault: Vault | undefined;
  if (withVault) {
    const dir = await mkdtemp('/tmp/eosd-egress-');
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    vault = await Vault.open(join(dir, 'vault'), join(dir, 'vault.key'), { audit: () => undefined, logger });
    await vault.set('API_KEY', Buffer.from(SECRET));
  }
  const guard = createEgressFetch(
    { timeoutMs: 5_000, ...config },
    { audit: (e) => void events.push(e), logger, resolver, ...(vault ? { credentials: vault } : {}) },
  );
  onTestFinished(() => guard.close());
  return { guard, events, vault };
}

describe('EgressGuard SSRF matrix (real listeners, all blocked)', () => {
  const p = (): number => v4.port;
  const cases: [string, () => string, string, string?][] = [
    ['IPv4 loopback literal', () => `http://127.0.0.1:${p()}/`, 'address'],
    ['short IPv4 127.1', () => `http://127.1:${p()}/`, 'address'],
    ['decimal IPv4 2130706433', () => `http://2130706433:${p()}/`, 'address'],
    ['octal IPv4 0177.0.0.1', () => `http://0177.0.0.1:${p()}/`, 'address'],
    ['hex IPv4 0x7f.1', () => `http://0x7f.1:${p()}/`, 'address'],
    ['hex IPv4 0x7f000001', () => `http://0x7f000001:${p()}/`, 'address'],
    ['unspecified 0.0.0.0 (reaches loopback on Linux)', () => `http://0.0.0.0:${p()}/`, 'address'],
    ['IPv4-mapped [::ffff:127.0.0.1]', () => `http://[::ffff:127.0.0.1]:${p()}/`, 'address'],
    ['IPv4-mapped hex [::ffff:7f00:1]', () => `http://[::ffff:7f00:1]:${p()}/`, 'address'],
    ['IPv4-compatible [::127.0.0.1]', () => `http://[::127.0.0.1]:${p()}/`, 'address'],
    ['NAT64 [64:ff9b::7f00:1]', () => `http://[64:ff9b::7f00:1]:${p()}/`, 'address'],
    ['IPv6 unspecified [::]', () => `http://[::]:${p()}/`, 'address'],
    ['RFC 1918 10/8', () => `http://10.0.0.1:${p()}/`, 'address'],
    ['RFC 1918 192.168/16', () => `http://192.168.1.1:${p()}/`, 'address'],
    ['CGNAT 100.64/10', () => `http://100.64.0.1:${p()}/`, 'address'],
    ['multicast 224.0.0.1', () => `http://224.0.0.1:${p()}/`, 'address'],
    ['link-local [fe80::1]', () => `http://[fe80::1]:${p()}/`, 'address'],
    ['ULA [fd00::1]', () => `http://[fd00::1]:${p()}/`, 'address'],
    ['AWS metadata 169.254.169.254', () => 'http://169.254.169.254/latest/meta-data/', 'metadata'],
    ['AWS metadata IPv6 [fd00:ec2::254]', () => 'http://[fd00:ec2::254]/latest/', 'metadata'],
    ['mapped metadata [::ffff:169.254.169.254]', () => 'http://[::ffff:169.254.169.254]/', 'metadata'],
    ['Alibaba metadata 100.100.100.200', () => 'http://100.100.100.200/latest/meta-data/', 'metadata'],
    ['GCP metadata name', () => 'http://metadata.google.internal/computeMetadata/v1/', 'metadata'],
    ['GCP metadata name with trailing dot', () => 'http://metadata.google.internal./', 'metadata'],
    ['localhost name', () => `http://localhost:${p()}/`, 'address'],
    ['LOCALHOST. uppercase, trailing dot', () => `http://LOCALHOST.:${p()}/`, 'address'],
    ['*.localhost', () => `http://foo.localhost:${p()}/`, 'address'],
    ['file: scheme', () => 'file:///etc/passwd', 'scheme'],
    ['gopher: scheme', () => `gopher://127.0.0.1:${p()}/_x`, 'scheme'],
    ['data: scheme', () => 'data:text/plain,hi', 'scheme'],
    ['ftp: scheme', () => `ftp://127.0.0.1:${p()}/`, 'scheme'],
    ['userinfo allowed@127.0.0.1', () => `http://allowed.test@127.0.0.1:${p()}/`, 'userinfo'],
    ['userinfo user:pass@', () => `http://user:pass@evil.test:${p()}/`, 'userinfo'],
    ['host not in the agent allowlist', () => `http://example.com/`, 'host-not-allowed'],
    ['allowlisted host on another port', () => `http://evil.test:${p() + 1}/`, 'host-not-allowed'],
    ['name resolving to loopback (dial time)', () => `http://evil.test:${p()}/`, 'address', 'dial'],
    ['name with a mixed public+loopback answer (dial time)', () => `http://rebind.test:${p()}/`, 'address', 'dial'],
    ['name resolving to ::1 (dial time)', () => `http://v6evil.test:${p()}/`, 'address', 'dial'],
    ['name resolving to ::ffff:127.0.0.1 (dial time)', () => `http://mapped.test:${p()}/`, 'address', 'dial'],
    ['name resolving to metadata (dial time)', () => `http://meta.test:${p()}/`, 'address', 'dial'],
    ['name resolving to RFC 1918 (dial time)', () => `http://private.test:${p()}/`, 'address', 'dial'],
    ['https to loopback', () => `https://127.0.0.1:${p()}/`, 'address'],
    ['redirect to loopback literal', () => `http://allowed.test:${p()}/redirect?to=${encodeURIComponent(`http://127.0.0.1:${v4b.port}/secret`)}`, 'address'],
    ['redirect to metadata', () => `http://allowed.test:${p()}/redirect?to=${encodeURIComponent('http://169.254.169.254/latest/')}`, 'metadata'],
    ['redirect to a name resolving to loopback', () => `http://allowed.test:${p()}/redirect?to=${encodeURIComponent(`http://evil.test:${v4b.port}/secret`)}`, 'address', 'dial'],
    ['redirect to file:', () => `http://allowed.test:${p()}/redirect?to=${encodeURIComponent('file:///etc/shadow')}`, 'scheme'],
    ['redirect (307) to a host outside the allowlist', () => `http://allowed.test:${p()}/redirect?status=307&to=${encodeURIComponent('http://example.org/')}`, 'host-not-allowed'],
  ];

  let guardCtx: Awaited<ReturnType<typeof makeGuard>>;
  beforeAll(async () => {
    guardCtx = await (async () => {
      const events: EgressAuditEvent[] = [];
      const guard = createEgressFetch(
        {
          timeoutMs: 5_000,
          // allowed.test is a deliberate internal endpoint; nothing else local is.
          operatorAllowlist: [`allowed.test:${v4.port}`, '169.254.169.254', 'metadata.google.internal'],
        },
        { audit: (e) => void events.push(e), logger, resolver },
      );
      return { guard, events, vault: undefined };
    })();
    // The agent lists every target, so what blocks is the address check, not the allowlist.
    const port = v4.port;
    const hosts = [
      '127.0.0.1', '0.0.0.0', '[::ffff:127.0.0.1]', '[::127.0.0.1]', '[64:ff9b::7f00:1]', '[::]', '10.0.0.1',
      '192.168.1.1', '100.64.0.1', '224.0.0.1', '[fe80::1]', '[fd00::1]', 'localhost', 'foo.localhost', 'evil.test',
      'rebind.test', 'v6evil.test', 'mapped.test', 'meta.test', 'private.test', 'allowed.test',
    ].map((h) => `${h}:${port}`);
    hosts.push(`127.0.0.1:${v4b.port}`, `evil.test:${v4b.port}`, '169.254.169.254', '[fd00:ec2::254]', '[::ffff:169.254.169.254]');
    hosts.push('100.100.100.200', 'metadata.google.internal', `[::1]:${v6?.port ?? 1}`);
    guardCtx.guard.setAgentPolicy('ssrf-agent', { allowedHosts: hosts });
  });
  afterAll(() => guardCtx.guard.close());

  it('has at least 25 attack cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
  });

  it.each(cases)('blocks %s', async (_name, url, reason, stage) => {
    const before = totalHits();
    const redirect = url().includes('/redirect?');
    resolverCalls.length = 0;
    await expect(guardCtx.guard.fetch('ssrf-agent', { url: url() })).rejects.toMatchObject({
      code: 'EOS_EGRESS_BLOCKED',
      details: expect.objectContaining({ reason, ...(stage ? { stage } : {}) }),
    });
    // Nothing reached a listener except the allowed first hop of a redirect case.
    expect(totalHits() - before).toBe(redirect ? 1 : 0);
    if (stage === 'dial') {
      expect(resolverCalls.length).toBeGreaterThan(0);
    }
    expect(guardCtx.events.at(-1)).toMatchObject({ type: 'egress.blocked', agentId: 'ssrf-agent', reason });
  });

  it('blocks an IPv6 loopback literal [::1] with a live ::1 listener', async (ctx) => {
    if (v6 === null) {
      ctx.skip(); // no ::1 on this host (CI fails in beforeAll instead)
    }
    const before = v6?.hits.length ?? 0;
    await expect(guardCtx.guard.fetch('ssrf-agent', { url: `http://[::1]:${v6?.port}/` })).rejects.toMatchObject({
      code: 'EOS_EGRESS_BLOCKED',
      details: expect.objectContaining({ reason: 'address', blockedClass: 'loopback' }),
    });
    expect(v6?.hits.length).toBe(before);
  });

  it('blocks an agent without a policy, and an agent whose list lacks the host', async () => {
    await expect(guardCtx.guard.fetch('no-policy-agent', { url: `http://allowed.test:${v4.port}/` })).rejects.toMatchObject({
      code: 'EOS_EGRESS_BLOCKED',
      details: { reason: 'no-policy' },
    });
    guardCtx.guard.setAgentPolicy('narrow', { allowedHosts: ['api.example.com'] });
    await expect(guardCtx.guard.fetch('narrow', { url: `http://allowed.test:${v4.port}/` })).rejects.toMatchObject({
      code: 'EOS_EGRESS_BLOCKED',
      details: expect.objectContaining({ reason: 'host-not-allowed' }),
    });
  });
});

describe('dial-time check (connector level, no URL pre-check)', () => {
  const opts = { resolver, operatorAllowlist: new HostAllowlist([], 't'), connectTimeoutMs: 1_000 };
  it.each(['127.0.0.1', '::1', '::ffff:127.0.0.1', '169.254.169.254', 'evil.test', 'rebind.test', 'localhost'])(
    'refuses to dial %s',
    async (host) => {
      await expect(resolveDialTargets(host, 80, 'http:', opts)).rejects.toMatchObject({
        code: 'EOS_EGRESS_BLOCKED',
        details: expect.objectContaining({ reason: 'address' }),
      });
    },
  );

  it('the operator allowlist waives the address block but never the metadata block', async () => {
    const op = { ...opts, operatorAllowlist: new HostAllowlist(['evil.test:8080', 'meta.test:80'], 't') };
    await expect(resolveDialTargets('evil.test', 8080, 'http:', op)).resolves.toEqual([{ address: '127.0.0.1', family: 4 }]);
    await expect(resolveDialTargets('evil.test', 8081, 'http:', op)).rejects.toMatchObject({ code: 'EOS_EGRESS_BLOCKED' });
    await expect(resolveDialTargets('meta.test', 80, 'http:', op)).rejects.toMatchObject({
      details: expect.objectContaining({ blockedClass: 'metadata' }),
    });
  });
});

describe('EgressGuard allowed paths', () => {
  it('fetches an operator-allowlisted local listener', async () => {
    const { guard, events } = await makeGuard({ operatorAllowlist: [`127.0.0.1:${v4.port}`] });
    guard.setAgentPolicy('a', { allowedHosts: [`127.0.0.1:${v4.port}`] });
    const res = await guard.fetch('a', { url: `http://127.0.0.1:${v4.port}/ok` });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('hello from /ok');
    expect(events.at(-1)).toMatchObject({ type: 'egress.allowed', status: 200, agentId: 'a' });
  });

  it('follows redirects between allowed hosts, re-validating each hop', async () => {
    const { guard } = await makeGuard({ operatorAllowlist: [`allowed.test:${v4.port}`, `other.test:${v4b.port}`] });
    guard.setAgentPolicy('a', { allowedHosts: [`allowed.test:${v4.port}`, `other.test:${v4b.port}`] });
    const to = encodeURIComponent(`http://other.test:${v4b.port}/landed`);
    const res = await guard.fetch('a', { url: `http://allowed.test:${v4.port}/redirect?to=${to}` });
    expect(res).toMatchObject({ status: 200, redirects: 1, url: `http://other.test:${v4b.port}/landed` });
    expect(res.body.toString()).toBe('hello from /landed');
    const rel = await guard.fetch('a', { url: `http://allowed.test:${v4.port}/redirect?to=%2Frelative`, method: 'POST', body: 'x' });
    expect(rel.body.toString()).toBe('hello from /relative');
    expect(v4.hits.at(-1)).toMatchObject({ path: '/relative', body: '' });
  });

  it('caps redirects with EOS_EGRESS_LIMIT_EXCEEDED', async () => {
    const { guard } = await makeGuard({ operatorAllowlist: [`allowed.test:${v4.port}`], maxRedirects: 3 });
    guard.setAgentPolicy('a', { allowedHosts: [`allowed.test:${v4.port}`] });
    const before = v4.hits.length;
    await expect(guard.fetch('a', { url: `http://allowed.test:${v4.port}/loop` })).rejects.toMatchObject({
      code: 'EOS_EGRESS_LIMIT_EXCEEDED',
      details: { reason: 'redirects' },
    });
    expect(v4.hits.length - before).toBe(4);
  });

  it('enforces the response size cap, declared and streamed', async () => {
    const { guard } = await makeGuard({ operatorAllowlist: [`allowed.test:${v4.port}`], maxResponseBytes: 1024 * 1024 });
    guard.setAgentPolicy('a', { allowedHosts: [`allowed.test:${v4.port}`] });
    for (const path of ['/big', '/big-chunked']) {
      await expect(guard.fetch('a', { url: `http://allowed.test:${v4.port}${path}` })).rejects.toMatchObject({
        code: 'EOS_EGRESS_LIMIT_EXCEEDED',
        details: expect.objectContaining({ reason: 'response-size' }),
      });
    }
  });

  it('enforces the total time cap', async () => {
    const { guard, events } = await makeGuard({ operatorAllowlist: [`allowed.test:${v4.port}`], timeoutMs: 300 });
    guard.setAgentPolicy('a', { allowedHosts: [`allowed.test:${v4.port}`] });
    const t0 = Date.now();
    await expect(guard.fetch('a', { url: `http://allowed.test:${v4.port}/slow` })).rejects.toMatchObject({
      code: 'EOS_EGRESS_TIMEOUT',
    });
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(events.at(-1)).toMatchObject({ type: 'egress.failed', code: 'EOS_EGRESS_TIMEOUT' });
  });

  it('enforces the request size cap and forbidden headers', async () => {
    const { guard } = await makeGuard({ operatorAllowlist: [`allowed.test:${v4.port}`], maxRequestBytes: 10 });
    guard.setAgentPolicy('a', { allowedHosts: [`allowed.test:${v4.port}`] });
    const url = `http://allowed.test:${v4.port}/`;
    await expect(guard.fetch('a', { url, method: 'POST', body: 'x'.repeat(11) })).rejects.toMatchObject({
      code: 'EOS_EGRESS_LIMIT_EXCEEDED',
    });
    for (const header of ['Host', 'Transfer-Encoding', 'Proxy-Authorization', 'Connection']) {
      await expect(guard.fetch('a', { url, headers: { [header]: 'x' } })).rejects.toMatchObject({
        code: 'EOS_EGRESS_BLOCKED',
        details: expect.objectContaining({ reason: 'forbidden-header' }),
      });
    }
  });
});

describe('EgressGuard credentials and secret scanning', () => {
  async function setup() {
    const ctx = await makeGuard({ operatorAllowlist: [`allowed.test:${v4.port}`, `other.test:${v4b.port}`] }, true);
    ctx.guard.setAgentPolicy('a', { allowedHosts: [`allowed.test:${v4.port}`, `other.test:${v4b.port}`] });
    const vault = ctx.vault as Vault;
    const credentialId = await vault.grant('a', 'API_KEY', { host: 'allowed.test', ttlMs: 60_000 });
    return { ...ctx, vault, credentialId };
  }

  it('injects the secret on the wire; the agent cannot override it and never sees it', async () => {
    const { guard, events, credentialId } = await setup();
    const res = await guard.fetch('a', {
      url: `http://allowed.test:${v4.port}/headers`,
      credentialId,
      headers: { Authorization: 'Bearer agent-chosen', AUTHORIZATION: 'Bearer other' },
    });
    expect(v4.hits.at(-1)?.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(v4.hits.at(-1)?.headers['accept-encoding']).toBe('identity');
    // The listener echoed the headers: the secret came back and was redacted, with an alarm.
    expect(res.redacted).toBe(true);
    expect(res.body.toString()).not.toContain(SECRET);
    expect(JSON.parse(res.body.toString())).toMatchObject({ authorization: 'Bearer [REDACTED]' });
    expect(events.find((e) => e.type === 'egress.secret-detected')).toMatchObject({
      direction: 'response',
      names: ['API_KEY'],
    });
  });

  it('redacts raw, base64, hex and URL-encoded echoes in body and headers', async () => {
    const { guard, events } = await setup();
    const res = await guard.fetch('a', { url: `http://allowed.test:${v4.port}/echo-secret` });
    const text = `${res.body.toString()} ${JSON.stringify(res.headers)}`;
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain(Buffer.from(SECRET).toString('base64'));
    expect(text).not.toContain(Buffer.from(SECRET).toString('hex'));
    expect(text).not.toContain(encodeURIComponent(SECRET));
    expect(res.body.toString()).toBe('raw=[REDACTED] hex=[REDACTED] url=[REDACTED]');
    expect(res.headers['x-leak']).toBe('[REDACTED]');
    expect(events.find((e) => e.type === 'egress.secret-detected')).toMatchObject({
      forms: expect.arrayContaining(['raw', 'hex', 'base64']),
    });
  });

  it('decodes gzip before scanning, so compression cannot smuggle a secret', async () => {
    const { guard } = await setup();
    const res = await guard.fetch('a', { url: `http://allowed.test:${v4.port}/gzip-secret` });
    expect(res.body.toString()).toBe('compressed [REDACTED] inside');
    expect(res.headers['content-encoding']).toBeUndefined();
  });

  it('blocks a request that carries a vault secret, before anything is sent', async () => {
    const { guard, events } = await setup();
    const before = v4.hits.length;
    const url = `http://allowed.test:${v4.port}/`;
    for (const req of [
      { url, method: 'POST' as const, body: `exfil=${Buffer.from(SECRET).toString('base64url')}` },
      { url: `${url}?k=${encodeURIComponent(SECRET)}` },
      { url, headers: { 'x-data': Buffer.from(SECRET).toString('hex') } },
    ]) {
      await expect(guard.fetch('a', req)).rejects.toMatchObject({
        code: 'EOS_EGRESS_BLOCKED',
        details: { reason: 'secret-in-request' },
      });
    }
    expect(v4.hits.length).toBe(before);
    expect(events.filter((e) => e.type === 'egress.secret-detected' && e.direction === 'request')).toHaveLength(3);
  });

  it('denies a credential used by another agent or for another host', async () => {
    const { guard, credentialId } = await setup();
    guard.setAgentPolicy('b', { allowedHosts: [`allowed.test:${v4.port}`] });
    await expect(guard.fetch('b', { url: `http://allowed.test:${v4.port}/headers`, credentialId })).rejects.toMatchObject({
      code: 'EOS_CREDENTIAL_DENIED',
    });
    await expect(guard.fetch('a', { url: `http://other.test:${v4b.port}/headers`, credentialId })).rejects.toMatchObject({
      code: 'EOS_CREDENTIAL_DENIED',
    });
  });

  it('drops the credential on a redirect to another host', async () => {
    const { guard, events, credentialId } = await setup();
    const to = encodeURIComponent(`http://other.test:${v4b.port}/headers`);
    const res = await guard.fetch('a', { url: `http://allowed.test:${v4.port}/redirect?to=${to}`, credentialId });
    expect(res.status).toBe(200);
    expect(v4.hits.at(-1)?.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(v4b.hits.at(-1)?.headers.authorization).toBeUndefined();
    expect(events.some((e) => e.type === 'egress.credential-dropped')).toBe(true);
  });

  it('refuses to send a credential over plain http to a host that is not operator-allowlisted', async () => {
    const { guard, vault } = await setup();
    guard.setAgentPolicy('c', { allowedHosts: ['plain.example'] });
    const id = await vault.grant('c', 'API_KEY', { host: 'plain.example', ttlMs: 60_000 });
    await expect(guard.fetch('c', { url: 'http://plain.example/', credentialId: id })).rejects.toMatchObject({
      code: 'EOS_EGRESS_BLOCKED',
      details: { reason: 'credential-over-http' },
    });
  });
});

describe('EgressGuard over TLS with the dialled address pinned', () => {
  it('verifies the certificate against the URL host name, not the pinned IP', async () => {
    const dir = await mkdtemp('/tmp/eosd-tls-');
    onTestFinished(() => rm(dir, { recursive: true, force: true }));
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
      '-subj', '/CN=allowed.test', '-addext', 'subjectAltName=DNS:allowed.test', '-keyout', key, '-out', cert,
    ], { stdio: 'ignore' });
    const pem = { key: await readFile(key), cert: await readFile(cert) };
    let sni: string | undefined;
    const server = createHttpsServer(pem, (req, res) => {
      sni = (req.socket as TLSSocket).servername || undefined;
      res.end('tls ok');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    onTestFinished(() => {
      server.closeAllConnections();
      server.close();
    });
    const port = (server.address() as AddressInfo).port;
    const events: EgressAuditEvent[] = [];
    const guard = createEgressFetch(
      { timeoutMs: 5_000, operatorAllowlist: [`allowed.test:${port}`, `other.test:${port}`] },
      { audit: (e) => void events.push(e), logger, resolver, tls: { ca: pem.cert } },
    );
    onTestFinished(() => guard.close());
    guard.setAgentPolicy('a', { allowedHosts: [`allowed.test:${port}`, `other.test:${port}`] });
    const res = await guard.fetch('a', { url: `https://allowed.test:${port}/` });
    expect(res.body.toString()).toBe('tls ok');
    expect(sni).toBe('allowed.test');
    // other.test resolves to the same pinned address, but the certificate does not name it.
    await expect(guard.fetch('a', { url: `https://other.test:${port}/` })).rejects.toMatchObject({
      code: 'EOS_EGRESS_UPSTREAM_FAILED',
    });
  });
});
