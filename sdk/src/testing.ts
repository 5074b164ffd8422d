/**
 * @module @everythingos/sdk/testing
 *
 * Test an agent against the real supervisor: {@link startAgentHarness} runs the `eosd` of
 * `@everythingos/supervisor` (a devDependency of the agent package) in dev mode with a temp state
 * directory, your agent package and a relay peer agent. Emits, subscriptions, acts and state go
 * through the production code paths, so the channel ACL and rate limits apply as in production.
 *
 * ```ts
 * import { startAgentHarness } from '@everythingos/sdk/testing';
 * const h = await startAgentHarness({ packageDir: fileURLToPath(new URL('..', import.meta.url)) });
 * onTestFinished(() => h.close());
 * await h.emit('demo.ping', { n: 1 });
 * expect((await h.nextEvent('demo.pong')).payload).toEqual({ n: 1 });
 * ```
 */
export { startAgentHarness, HARNESS_PEER_ID } from './testing/agent-harness.js';
export type {
  AgentHarness,
  AgentHarnessOptions,
  HarnessAgentStatus,
  HarnessLogLine,
  WaitOptions,
} from './testing/agent-harness.js';
