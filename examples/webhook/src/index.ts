import { Agent, isEosError, type AgentEvent, type CredentialGrant } from '@everythingos/sdk';

/** A notification to deliver. `url` is where to, and like the rest of the event it is untrusted input. */
interface Notify {
  id: string;
  url: string;
  text: string;
}

/** The vault secret the operator grants this agent (`agents[].credentials` in the daemon config). */
const SECRET = 'webhook-token';
/** Renew a credential this long before it expires, ms. */
const RENEW_MARGIN_MS = 5_000;

/**
 * Posts every notification on `webhook.notify` as JSON to its URL through the supervisor's egress guard,
 * and reports the outcome on `webhook.delivered` or `webhook.failed`. For the webhook host the operator
 * granted, it asks for a credentialId: the supervisor injects the token into the Authorization header,
 * so the agent never holds it. A URL outside the manifest's `egress.allowedHosts`, or one pointing at a
 * private or metadata address (SSRF), is refused by the supervisor with `EOS_EGRESS_BLOCKED`.
 */
export default class WebhookAgent extends Agent {
  readonly #grants = new Map<string, CredentialGrant>();

  protected override async onStart(): Promise<void> {
    await this.subscribe<Notify>('webhook.notify', (e) => this.#deliver(e));
  }

  async #deliver(e: AgentEvent<Notify>): Promise<void> {
    const { id, url, text } = e.payload;
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      await this.emit('webhook.failed', { id, code: 'EOS_INVALID_ARGUMENT' });
      return;
    }
    try {
      const credentialId = this.manifest.egress.allowedHosts.includes(target.host) ? await this.#credential(target.hostname) : undefined;
      const res = await this.fetch(target.href, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id, text }),
        ...(credentialId === undefined ? {} : { credentialId }),
      });
      // The body is untrusted; a vault secret in it (a server echoing the token) arrives redacted.
      this.log('debug', 'webhook answered', { id, status: res.status, body: res.body.slice(0, 200) });
      if (res.status >= 200 && res.status < 300) {
        await this.emit('webhook.delivered', { id, status: res.status });
      } else {
        await this.emit('webhook.failed', { id, status: res.status });
      }
    } catch (err) {
      if (!isEosError(err)) {
        throw err;
      }
      this.log('warn', 'webhook delivery refused', { id, host: target.host, code: err.code, message: err.message });
      await this.emit('webhook.failed', { id, code: err.code });
    }
  }

  /** A credentialId for the granted secret on `host` (a bare host name, as the operator's grant), reused until shortly before it expires. */
  async #credential(host: string): Promise<string> {
    let grant = this.#grants.get(host);
    if (grant === undefined || grant.expiresAtMs - Date.now() < RENEW_MARGIN_MS) {
      grant = await this.requestCredential(SECRET, host);
      this.#grants.set(host, grant);
    }
    return grant.credentialId;
  }
}
