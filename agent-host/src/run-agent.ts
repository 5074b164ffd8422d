import { pathToFileURL } from 'node:url';
import type { agentV1 } from '@everythingos/proto';
import { decodeHelloResponse, encodeHelloRequest, PROTOCOL_VERSION, type Bootstrap } from '@everythingos/proto/agent-wire';
import { EosError, type AgentManifest } from '@everythingos/proto/core';
import { ATTACH_RUNTIME, type AgentLifecycle, type AgentRuntime } from '@everythingos/sdk';
import { AgentClient } from './agent-client.js';
import { CallSigner } from './call-signer.js';
import type { HostLogger } from './host-log.js';
import { HostRuntime } from './host-runtime.js';

/** Exit codes of agent-host; the supervisor reports them as the agent's last exit. */
export const EXIT = {
  /** Stopped on request. */
  clean: 0,
  /** Author code threw, or the package is not a valid agent. */
  agentFailed: 1,
  /** The supervisor went away (session or lifeline lost). */
  supervisorLost: 2,
  /** Bootstrap or handshake failed. */
  protocol: 3,
} as const;

/** How long the supervisor has to answer Hello, ms. */
const HELLO_DEADLINE_MS = 10_000;

export interface RunAgentOptions {
  bootstrap: Bootstrap;
  /**
   * Imports the agent's ESM entry by URL. @defaultValue `import()` here; the code-cached start passes
   * its own, because V8 drops the dynamic-import callback of a script compiled from a code cache.
   */
  importModule?: (url: string) => Promise<unknown>;
  /** Resolves when the supervisor's lifeline pipe closes. */
  lifelineClosed: Promise<void>;
  log: HostLogger;
  /** The real process.exit, captured before any author code loaded. */
  exit: (code: number) => never;
  /** Called once Ready is sent (the code-cache training start ends there). */
  onReady?: () => void;
}

function hello(client: AgentClient, signer: CallSigner): Promise<agentV1.HelloResponse__Output> {
  const request: agentV1.HelloRequest = { auth: signer.sign('Hello', ''), protocolVersion: PROTOCOL_VERSION, pid: process.pid };
  return client.unary(
    '/eos.agent.v1.AgentService/Hello',
    request,
    encodeHelloRequest,
    (bytes) => decodeHelloResponse(bytes) as agentV1.HelloResponse__Output,
    HELLO_DEADLINE_MS,
  );
}

async function loadAgent(
  entryPath: string,
  importModule: (url: string) => Promise<unknown>,
): Promise<{ attach: (rt: AgentRuntime) => AgentLifecycle }> {
  const mod = (await importModule(pathToFileURL(entryPath).href)) as { default?: unknown };
  const Ctor = mod.default;
  if (typeof Ctor !== 'function') {
    throw new EosError('EOS_AGENT_FAILED', `${entryPath} has no default export class; export default a subclass of Agent`);
  }
  const instance = new (Ctor as new () => Record<PropertyKey, unknown>)();
  const attach = instance[ATTACH_RUNTIME];
  if (typeof attach !== 'function') {
    throw new EosError('EOS_AGENT_FAILED', `the default export of ${entryPath} does not extend Agent from @everythingos/sdk`);
  }
  return { attach: (rt) => (attach as (rt: AgentRuntime) => AgentLifecycle).call(instance, rt) };
}

/**
 * Runs one agent to completion: handshake, load the package, onStart, ready, then events until
 * the supervisor asks for shutdown or disappears. Never returns: it ends the process.
 */
export async function runAgent(opts: RunAgentOptions): Promise<never> {
  const { bootstrap, log, exit } = opts;
  const signer = new CallSigner(bootstrap.sessionKey);
  const client = new AgentClient({ socketPath: bootstrap.socketPath });

  void opts.lifelineClosed.then(() => {
    log('error', {}, 'supervisor lifeline closed; exiting');
    exit(EXIT.supervisorLost);
  });

  let helloRes: agentV1.HelloResponse__Output;
  try {
    helloRes = await hello(client, signer);
  } catch (err) {
    log('error', { err }, 'handshake failed');
    return exit(EXIT.protocol);
  }
  // The supervisor sends the manifest it validated itself (schema output, defaults applied); it is
  // not validated again here, so zod stays out of agent-host.
  const manifest = JSON.parse(helloRes.manifestJson.toString('utf8')) as AgentManifest;

  let stopping = false;
  let lifecycle: AgentLifecycle | undefined;
  const timers: { tick?: NodeJS.Timeout; heartbeat?: NodeJS.Timeout } = {};

  const runtime = new HostRuntime({
    agentId: helloRes.agentId,
    manifest,
    client,
    signer,
    log,
    onShutdown: (graceMs, reason) => {
      if (stopping) {
        return;
      }
      stopping = true;
      clearInterval(timers.tick);
      clearInterval(timers.heartbeat);
      log('info', { graceMs, reason }, 'shutdown requested');
      const stopDone = lifecycle === undefined ? Promise.resolve() : lifecycle.stop();
      void stopDone
        .then(
          () => EXIT.clean,
          (err: unknown) => {
            log('error', { err }, 'onStop failed');
            return EXIT.agentFailed;
          },
        )
        .then((code) => {
          runtime.close();
          client.close();
          exit(code);
        });
    },
    onSessionLost: (err) => {
      log('error', { err }, 'session with the supervisor lost; exiting');
      exit(EXIT.supervisorLost);
    },
  });
  runtime.openSession();

  try {
    const agent = await loadAgent(helloRes.entryPath, opts.importModule ?? ((url) => import(url)));
    lifecycle = agent.attach(runtime);
    await lifecycle.start();
  } catch (err) {
    log('error', { err }, 'agent failed to start');
    return exit(EXIT.agentFailed);
  }
  if (stopping) {
    return new Promise<never>(() => {});
  }
  runtime.sendReady();
  log('info', { tickRateMs: helloRes.tickRateMs }, 'agent ready');
  opts.onReady?.();

  const started = lifecycle;
  if (helloRes.tickRateMs > 0) {
    let ticking = false;
    timers.tick = setInterval(() => {
      if (ticking || stopping) {
        return;
      }
      ticking = true;
      started
        .tick()
        .catch((err: unknown) => log('error', { err }, 'onTick failed'))
        .finally(() => {
          ticking = false;
        });
    }, helloRes.tickRateMs);
  }
  timers.heartbeat = setInterval(() => {
    started
      .health()
      .then(
        (h) => h,
        (err: unknown) => ({ status: 'unhealthy', details: { error: String(err) } }),
      )
      .then((h) => {
        if (!stopping) {
          runtime.sendHeartbeat(h);
        }
      })
      .catch((err: unknown) => log('warn', { err }, 'heartbeat not sent'));
  }, helloRes.heartbeatIntervalMs);
  return new Promise<never>(() => {});
}
