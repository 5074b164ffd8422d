import { brotliDecompressSync, gunzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import type { ZlibOptions } from 'node:zlib';
import { EosError, isEosError } from '@everythingos/proto';
import type { ErrorCode } from '@everythingos/proto';
import type { Logger } from 'pino';
import { Agent } from 'undici';
import type { buildConnector, Dispatcher } from 'undici';
import { z } from 'zod';
import type { ResolvedCredential, SecretFinding, SecretScanner } from '../vault/index.js';
import { classifyHostname, normalizeHostname } from './address-policy.js';
import { AgentEgressPolicy, EgressConfig } from './egress-config.js';
import type { AgentEgressPolicyInput, EgressConfigInput } from './egress-config.js';
import { createGuardedConnector, systemResolver } from './guarded-connector.js';
import type { HostResolver } from './guarded-connector.js';
import { HostAllowlist, defaultPort } from './host-allowlist.js';

/** Methods an agent may use. CONNECT and TRACE are never allowed. */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** What an agent asks for (the `Fetch` RPC request after proto decoding). */
export const EgressRequest = z.strictObject({
  url: z.string().min(1).max(8_192),
  method: z.enum(METHODS).default('GET'),
  /** Header name → value; names are case-insensitive and lower-cased. */
  headers: z.record(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/), z.string().max(16_384)).default({}),
  body: z.union([z.instanceof(Uint8Array), z.string()]).optional(),
  /** A vault credentialId granted to this agent; its secret is injected, never returned. */
  credentialId: z.string().min(1).max(256).optional(),
});
/** What an agent passes to {@link EgressGuard.fetch}. */
export type EgressRequestInput = z.input<typeof EgressRequest>;

/** What comes back to the agent, already scanned for vault secrets. */
export interface EgressResponse {
  readonly status: number;
  /** Lower-case names; hop-by-hop and encoding headers removed. */
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly body: Buffer;
  /** URL of the final hop. */
  readonly url: string;
  readonly redirects: number;
  /** Whether a vault secret was found and replaced in the headers or body. */
  readonly redacted: boolean;
}

/** One decision or alarm from the egress guard. URLs are origin + path, never the query. */
export type EgressAuditEvent =
  | {
      type: 'egress.allowed';
      at: number;
      agentId: string;
      method: string;
      url: string;
      status: number;
      bytes: number;
      redirects: number;
      durationMs: number;
    }
  | {
      type: 'egress.blocked' | 'egress.failed';
      at: number;
      agentId: string;
      method: string;
      url: string;
      code: ErrorCode;
      reason: string;
      details: Record<string, unknown>;
    }
  | {
      type: 'egress.secret-detected';
      at: number;
      agentId: string;
      url: string;
      direction: 'request' | 'response';
      names: string[];
      forms: string[];
      count: number;
    }
  | { type: 'egress.credential-dropped'; at: number; agentId: string; url: string; reason: string };

/** Receives every egress decision; awaited. */
export type EgressAuditSink = (event: EgressAuditEvent) => void | Promise<void>;

/** Where the guard gets credentials and the secret scanner: the {@link Vault}, in the supervisor. */
export interface CredentialSource {
  resolve(credentialId: string, agentId: string, host: string): Promise<ResolvedCredential>;
  scanner(): SecretScanner;
}

/** Dependencies of the egress guard. */
export interface EgressGuardDeps {
  readonly audit: EgressAuditSink;
  readonly logger: Logger;
  /** Name resolution used at dial time; {@link systemResolver} by default. */
  readonly resolver?: HostResolver;
  readonly credentials?: CredentialSource;
  /** TLS options for the connector, e.g. `{ ca }` for an internal CA. */
  readonly tls?: buildConnector.BuildOptions;
  /** Milliseconds since the epoch. */
  readonly now?: () => number;
}

/** Headers an agent may not set: framing, routing and proxy control belong to the guard. */
const FORBIDDEN_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'connection',
  'keep-alive',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'content-length',
  'expect',
  'http2-settings',
]);

/** Dropped from a request when a redirect changes origin (Fetch standard §4.4 step 14). */
const CROSS_ORIGIN_DROPPED = ['authorization', 'cookie', 'proxy-authorization'] as const;

const HOP_BY_HOP_RESPONSE = ['connection', 'keep-alive', 'transfer-encoding', 'trailer', 'upgrade'] as const;

/** Outcomes that are a policy decision (audited as `egress.blocked`), not an upstream failure. */
const BLOCK_CODES: ReadonlySet<ErrorCode> = new Set([
  'EOS_EGRESS_BLOCKED',
  'EOS_CREDENTIAL_DENIED',
  'EOS_EGRESS_LIMIT_EXCEEDED',
]);

const UNDICI_TIMEOUT_CODES: ReadonlySet<string> = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);

const REDIRECT_STATUSES: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

function blocked(reason: string, message: string, details: Record<string, unknown> = {}): EosError {
  return new EosError('EOS_EGRESS_BLOCKED', message, { details: { reason, ...details } });
}

function limit(reason: string, message: string): EosError {
  return new EosError('EOS_EGRESS_LIMIT_EXCEEDED', message, { details: { reason } });
}

function auditUrl(url: URL | string): string {
  if (typeof url === 'string') {
    return url.split(/[?#]/, 1)[0] ?? '';
  }
  return `${url.origin}${url.pathname}`;
}

interface Hop {
  readonly url: URL;
  readonly hostname: string;
  readonly port: number;
  readonly operatorAllowed: boolean;
}

/**
 * The SSRF-safe egress path for agent `Fetch` calls. One undici {@link Agent} whose connector
 * resolves and checks every address at dial time and dials the checked address; URL, scheme,
 * userinfo, per-agent host allowlist and operator allowlist checked on every hop; redirects
 * followed by hand with a cap; response size and total time capped; vault credentials injected
 * into headers the agent cannot override; outbound requests carrying a vault secret blocked and
 * responses redacted, with an alarm.
 *
 * @experimental
 */
export class EgressGuard {
  readonly #config: EgressConfig;
  readonly #deps: EgressGuardDeps;
  readonly #now: () => number;
  readonly #operator: HostAllowlist;
  readonly #dispatcher: Agent;
  readonly #policies = new Map<string, HostAllowlist>();

  /** @throws EosError `EOS_CONFIG_INVALID` for a bad config or operator allowlist entry. */
  constructor(config: EgressConfigInput, deps: EgressGuardDeps) {
    const parsed = EgressConfig.safeParse(config);
    if (!parsed.success) {
      throw new EosError('EOS_CONFIG_INVALID', `invalid egress config:\n${z.prettifyError(parsed.error)}`, {
        cause: parsed.error,
      });
    }
    this.#config = parsed.data;
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
    this.#operator = new HostAllowlist(this.#config.operatorAllowlist, 'egress.operatorAllowlist');
    this.#dispatcher = new Agent({
      connect: createGuardedConnector({
        resolver: deps.resolver ?? systemResolver,
        operatorAllowlist: this.#operator,
        connectTimeoutMs: this.#config.connectTimeoutMs,
        tls: deps.tls,
      }),
      keepAliveTimeout: this.#config.keepAliveTimeoutMs,
      keepAliveMaxTimeout: this.#config.keepAliveTimeoutMs,
      headersTimeout: this.#config.timeoutMs,
      bodyTimeout: this.#config.timeoutMs,
      maxResponseSize: this.#config.maxResponseBytes,
    });
  }

  /**
   * Set an agent's host allowlist (from its validated manifest). An agent without a policy has no
   * egress at all.
   *
   * @throws EosError `EOS_CONFIG_INVALID` for an entry that is not `host` or `host:port`.
   */
  setAgentPolicy(agentId: string, policy: AgentEgressPolicyInput): void {
    const parsed = AgentEgressPolicy.safeParse(policy);
    if (!parsed.success) {
      const why = z.prettifyError(parsed.error);
      throw new EosError('EOS_CONFIG_INVALID', `invalid egress policy for ${agentId}:\n${why}`, {
        cause: parsed.error,
      });
    }
    this.#policies.set(agentId, new HostAllowlist(parsed.data.allowedHosts, `agent ${agentId} allowedHosts`));
  }

  /** Forget an agent's policy (on stop); its later fetches are blocked. */
  removeAgentPolicy(agentId: string): void {
    this.#policies.delete(agentId);
  }

  async #emit(event: EgressAuditEvent): Promise<void> {
    try {
      await this.#deps.audit(event);
    } catch (err) {
      this.#deps.logger.error({ err, event: event.type }, 'egress audit sink failed');
      throw new EosError('EOS_UNAVAILABLE', 'egress audit sink failed; request refused', { cause: err });
    }
  }

  #checkHop(raw: string | URL, base: URL | undefined, allowlist: HostAllowlist): Hop {
    let url: URL;
    try {
      url = typeof raw === 'string' ? new URL(raw, base) : raw;
    } catch (err) {
      throw new EosError('EOS_EGRESS_BLOCKED', 'not a valid absolute URL', {
        cause: err,
        details: { reason: 'invalid-url' },
      });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw blocked('scheme', `scheme ${url.protocol} is not allowed; only http and https`);
    }
    if (url.username !== '' || url.password !== '') {
      throw blocked('userinfo', 'URLs with user:password@ are not allowed; use a credentialId');
    }
    const hostname = normalizeHostname(url.hostname);
    const port = url.port === '' ? defaultPort(url.protocol) : Number(url.port);
    const verdict = classifyHostname(hostname);
    if (!verdict.allowed && verdict.blockedClass === 'metadata') {
      throw blocked('metadata', `${hostname} is a cloud metadata endpoint`, { host: hostname, stage: 'url' });
    }
    if (!allowlist.has(hostname, port, url.protocol)) {
      throw blocked('host-not-allowed', `${hostname}:${port} is not in this agent's allowedHosts`, {
        host: hostname,
        port,
      });
    }
    const operatorAllowed = this.#operator.has(hostname, port, url.protocol);
    if (!verdict.allowed && !operatorAllowed) {
      throw blocked('address', `${hostname} is a ${verdict.blockedClass} address`, {
        host: hostname,
        blockedClass: verdict.blockedClass,
        stage: 'url',
      });
    }
    return { url, hostname, port, operatorAllowed };
  }

  async #scanOutbound(
    agentId: string,
    url: URL,
    headers: Record<string, string>,
    body: Buffer | undefined,
  ): Promise<void> {
    const scanner = this.#deps.credentials?.scanner();
    if (scanner === undefined) {
      return;
    }
    const findings: SecretFinding[] = [...scanner.scan(url.href)];
    for (const [name, value] of Object.entries(headers)) {
      findings.push(...scanner.scan(name), ...scanner.scan(value));
    }
    if (body !== undefined) {
      findings.push(...scanner.scan(body));
    }
    if (findings.length > 0) {
      await this.#alarm(agentId, url, 'request', findings);
      throw blocked('secret-in-request', 'the request carries a vault secret; it was not sent');
    }
  }

  async #alarm(
    agentId: string,
    url: URL,
    direction: 'request' | 'response',
    findings: readonly SecretFinding[],
  ): Promise<void> {
    this.#deps.logger.warn({ agentId, direction, count: findings.length }, 'vault secret detected in egress');
    await this.#emit({
      type: 'egress.secret-detected',
      at: this.#now(),
      agentId,
      url: auditUrl(url),
      direction,
      names: [...new Set(findings.map((f) => f.name))],
      forms: [...new Set(findings.map((f) => f.form))],
      count: findings.length,
    });
  }

  /**
   * Perform one agent fetch under every egress control.
   *
   * @throws EosError `EOS_EGRESS_BLOCKED` (details.reason: `no-policy`, `invalid-url`, `scheme`,
   *   `userinfo`, `metadata`, `host-not-allowed`, `address`, `forbidden-header`,
   *   `credential-over-http`, `secret-in-request`, `unsupported-encoding`),
   *   `EOS_EGRESS_LIMIT_EXCEEDED` (`request-size`, `response-size`, `redirects`),
   *   `EOS_EGRESS_TIMEOUT`, `EOS_EGRESS_UPSTREAM_FAILED`, `EOS_CREDENTIAL_DENIED`,
   *   `EOS_INVALID_ARGUMENT` (malformed request).
   */
  async fetch(agentId: string, request: EgressRequestInput): Promise<EgressResponse> {
    const started = this.#now();
    const parsedReq = EgressRequest.safeParse(request);
    const method = parsedReq.success ? parsedReq.data.method : String(request.method ?? 'GET');
    try {
      if (!parsedReq.success) {
        const why = z.prettifyError(parsedReq.error);
        throw new EosError('EOS_INVALID_ARGUMENT', `invalid fetch request:\n${why}`, {
          details: { reason: 'invalid-request' },
        });
      }
      const response = await this.#fetch(agentId, parsedReq.data);
      await this.#emit({
        type: 'egress.allowed',
        at: this.#now(),
        agentId,
        method,
        url: response.url,
        status: response.status,
        bytes: response.body.length,
        redirects: response.redirects,
        durationMs: this.#now() - started,
      });
      return response;
    } catch (err) {
      const eos = isEosError(err)
        ? err
        : new EosError('EOS_INTERNAL', 'egress failed unexpectedly', { cause: err });
      const details = eos.details ?? {};
      const isBlock = BLOCK_CODES.has(eos.code);
      if (eos.code !== 'EOS_UNAVAILABLE') {
        await this.#emit({
          type: isBlock ? 'egress.blocked' : 'egress.failed',
          at: this.#now(),
          agentId,
          method,
          url: auditUrl(request.url),
          code: eos.code,
          reason: typeof details.reason === 'string' ? details.reason : eos.code,
          details,
        });
      }
      throw eos;
    }
  }

  async #fetch(agentId: string, req: z.output<typeof EgressRequest>): Promise<EgressResponse> {
    const allowlist = this.#policies.get(agentId);
    if (allowlist === undefined) {
      throw blocked('no-policy', `agent ${agentId} has no egress policy`);
    }
    const headers: Record<string, string> = {};
    for (const [rawName, value] of Object.entries(req.headers)) {
      const name = rawName.toLowerCase();
      if (FORBIDDEN_HEADERS.has(name) || name.startsWith('proxy-')) {
        throw blocked('forbidden-header', `header ${name} is set by the egress guard, not the agent`, {
          header: name,
        });
      }
      headers[name] = value;
    }
    // Compression would hide a secret from the response scan; ask for none, decode if sent anyway.
    headers['accept-encoding'] = 'identity';
    let body = req.body === undefined ? undefined : Buffer.from(req.body);
    const maxRequest = this.#config.maxRequestBytes;
    if (body !== undefined && body.length > maxRequest) {
      throw limit('request-size', `request body is ${body.length} bytes; the cap is ${maxRequest}`);
    }
    let method: string = req.method;
    let hop = this.#checkHop(req.url, undefined, allowlist);
    await this.#scanOutbound(agentId, hop.url, headers, body);

    const controller = new AbortController();
    const timer = setTimeout(() => {
      controller.abort(new EosError('EOS_EGRESS_TIMEOUT', `egress exceeded ${this.#config.timeoutMs} ms`, {
        details: { reason: 'total-time' },
      }));
    }, this.#config.timeoutMs);
    const credentialHost = hop.hostname;
    try {
      for (let redirects = 0; ; redirects++) {
        const hopHeaders = { ...headers };
        if (req.credentialId !== undefined) {
          if (hop.hostname === credentialHost) {
            if (hop.url.protocol !== 'https:' && !hop.operatorAllowed) {
              throw blocked(
                'credential-over-http',
                'credentials are only sent over https (or to operator-allowlisted hosts)',
              );
            }
            const cred = await this.#resolveCredential(req.credentialId, agentId, hop.hostname);
            hopHeaders[cred.header] = cred.value;
          } else {
            await this.#emit({
              type: 'egress.credential-dropped',
              at: this.#now(),
              agentId,
              url: auditUrl(hop.url),
              reason: 'cross-host-redirect',
            });
          }
        }
        const res = await this.#dispatch(hop.url, method, hopHeaders, body, controller.signal);
        const location = res.headers.location;
        if (REDIRECT_STATUSES.has(res.statusCode) && location !== undefined) {
          await res.body.dump();
          if (redirects >= this.#config.maxRedirects) {
            throw limit('redirects', `more than ${this.#config.maxRedirects} redirects`);
          }
          const target = Array.isArray(location) ? String(location[0]) : location;
          const next = this.#checkHop(target, hop.url, allowlist);
          if (next.url.origin !== hop.url.origin) {
            for (const h of CROSS_ORIGIN_DROPPED) {
              delete headers[h];
            }
          }
          // RFC 9110 §15.4: 303 becomes GET; 301/302 after POST become GET, as every browser does.
          const toGet =
            res.statusCode === 303
              ? method !== 'HEAD'
              : (res.statusCode === 301 || res.statusCode === 302) && method === 'POST';
          if (toGet) {
            method = 'GET';
            body = undefined;
            delete headers['content-type'];
          }
          hop = next;
          continue;
        }
        if (method === 'HEAD') {
          await res.body.dump();
        }
        const raw = method === 'HEAD' ? Buffer.alloc(0) : await this.#readBody(res);
        return await this.#finish(agentId, hop.url, res, raw, redirects);
      }
    } catch (err) {
      throw this.#mapError(err, controller.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  async #resolveCredential(credentialId: string, agentId: string, host: string): Promise<ResolvedCredential> {
    const source = this.#deps.credentials;
    if (source === undefined) {
      throw new EosError('EOS_CREDENTIAL_DENIED', 'no credential vault is configured');
    }
    return source.resolve(credentialId, agentId, host);
  }

  async #dispatch(
    url: URL,
    method: string,
    headers: Record<string, string>,
    body: Buffer | undefined,
    signal: AbortSignal,
  ): Promise<Dispatcher.ResponseData> {
    return this.#dispatcher.request({
      origin: url.origin,
      path: `${url.pathname}${url.search}`,
      method: method as Dispatcher.HttpMethod,
      headers,
      body: body ?? null,
      signal,
    });
  }

  async #readBody(res: Dispatcher.ResponseData): Promise<Buffer> {
    const max = this.#config.maxResponseBytes;
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > max) {
      res.body.destroy();
      throw limit('response-size', `response declares ${declared} bytes; the cap is ${max}`);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const chunk of res.body) {
      const buf = chunk as Buffer;
      total += buf.length;
      if (total > max) {
        res.body.destroy();
        throw limit('response-size', `response exceeded the ${max}-byte cap`);
      }
      chunks.push(buf);
    }
    return Buffer.concat(chunks, total);
  }

  #decode(encoding: string, raw: Buffer): Buffer {
    const opts: ZlibOptions = { maxOutputLength: this.#config.maxResponseBytes };
    let out = raw;
    const codings = encoding
      .split(',')
      .map((c) => c.trim().toLowerCase())
      .filter((c) => c !== '' && c !== 'identity');
    for (const coding of codings.reverse()) {
      try {
        if (coding === 'gzip' || coding === 'x-gzip') {
          out = gunzipSync(out, opts);
        } else if (coding === 'br') {
          out = brotliDecompressSync(out, opts);
        } else if (coding === 'deflate') {
          // Some servers send raw DEFLATE instead of the zlib wrapper RFC 9110 §8.4.1.2 asks for.
          const zlibWrapped = out[0] !== undefined && (out[0] & 0x0f) === 8;
          out = zlibWrapped ? inflateSync(out, opts) : inflateRawSync(out, opts);
        } else {
          throw blocked('unsupported-encoding', `response content-encoding ${coding} cannot be scanned`);
        }
      } catch (err) {
        if (isEosError(err)) {
          throw err;
        }
        if ((err as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') {
          const max = this.#config.maxResponseBytes;
          throw limit('response-size', `decoded response exceeded the ${max}-byte cap`);
        }
        throw new EosError('EOS_EGRESS_UPSTREAM_FAILED', `response body is not valid ${coding}`, {
          cause: err,
          details: { reason: 'bad-encoding' },
        });
      }
    }
    return out;
  }

  async #finish(
    agentId: string,
    url: URL,
    res: Dispatcher.ResponseData,
    raw: Buffer,
    redirects: number,
  ): Promise<EgressResponse> {
    const encoding = res.headers['content-encoding'];
    const decoded =
      encoding === undefined
        ? raw
        : this.#decode(Array.isArray(encoding) ? encoding.join(',') : encoding, raw);
    const scanner = this.#deps.credentials?.scanner();
    const findings: SecretFinding[] = [];
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(res.headers)) {
      if (value === undefined || (HOP_BY_HOP_RESPONSE as readonly string[]).includes(name)) {
        continue;
      }
      if (encoding !== undefined && (name === 'content-encoding' || name === 'content-length')) {
        continue;
      }
      if (scanner === undefined) {
        headers[name] = value;
        continue;
      }
      const values = Array.isArray(value) ? value : [value];
      const redacted = values.map((v) => {
        const r = scanner.redactString(v);
        findings.push(...r.findings);
        return r.output;
      });
      headers[name] = Array.isArray(value) ? redacted : (redacted[0] ?? '');
    }
    let body = decoded;
    if (scanner !== undefined) {
      const r = scanner.redactBytes(decoded);
      findings.push(...r.findings);
      body = r.output;
    }
    if (findings.length > 0) {
      await this.#alarm(agentId, url, 'response', findings);
      if (headers['content-length'] !== undefined) {
        headers['content-length'] = String(body.length);
      }
    }
    return {
      status: res.statusCode,
      headers,
      body,
      url: auditUrl(url),
      redirects,
      redacted: findings.length > 0,
    };
  }

  #mapError(err: unknown, signal: AbortSignal): EosError {
    if (signal.aborted) {
      return isEosError(signal.reason)
        ? signal.reason
        : new EosError('EOS_EGRESS_TIMEOUT', 'egress timed out');
    }
    if (isEosError(err)) {
      return err;
    }
    const code = (err as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && UNDICI_TIMEOUT_CODES.has(code)) {
      return new EosError('EOS_EGRESS_TIMEOUT', 'upstream timed out', {
        cause: err,
        details: { reason: code },
      });
    }
    if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') {
      return new EosError('EOS_EGRESS_LIMIT_EXCEEDED', 'response exceeded the size cap', {
        cause: err,
        details: { reason: 'response-size' },
      });
    }
    return new EosError('EOS_EGRESS_UPSTREAM_FAILED', 'upstream request failed', {
      cause: err,
      details: { reason: typeof code === 'string' ? code : 'network' },
    });
  }

  /** Close pooled connections; pending fetches finish first. */
  async close(): Promise<void> {
    await this.#dispatcher.close();
  }
}

/**
 * Build the egress guard used by the supervisor's `Fetch` RPC.
 *
 * @throws EosError `EOS_CONFIG_INVALID`.
 */
export function createEgressFetch(config: EgressConfigInput, deps: EgressGuardDeps): EgressGuard {
  return new EgressGuard(config, deps);
}
