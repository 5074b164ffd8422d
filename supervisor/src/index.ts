/**
 * @module @everythingos/supervisor
 *
 * eosd, the EverythingOS supervisor: run it with the `eosd` bin; embed it (tests, tools) with
 * {@link createSupervisor}; talk to a running one with {@link createControlClient}.
 *
 * ```ts
 * import { loadConfig, createSupervisor } from '@everythingos/supervisor';
 * const sup = await createSupervisor({ config: await loadConfig('eosd.yaml'), logger });
 * await sup.start();
 * ```
 */
export { createSupervisor, loadAgentPackages, EOSD_VERSION } from './supervisor.js';
export type { Supervisor, SupervisorOptions } from './supervisor.js';
export { loadConfig, parseConfig } from './config/load-config.js';
export type { ConfigOverrides } from './config/load-config.js';
export type { DaemonConfig, DaemonConfigInput, AgentSpec, AgentSpecInput } from './config/schema.js';
export { createControlClient } from './cli/control-client.js';
export type { ControlClient } from './cli/control-client.js';
/** @experimental Approver keys and signed decisions, for tools that sign outside the CLI. */
export { generateApproverKey, parseApproverKeyFile, signDecision } from './approvals/approval-signature.js';
export type { ApproverKeyFile, DecisionFields } from './approvals/approval-signature.js';
