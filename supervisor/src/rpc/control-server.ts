import { Server, ServerCredentials, type ServerWritableStream } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from 'pino';
import { EosError, loadControlProto, toServiceError, type controlV1 } from '@everythingos/proto';
import { z } from 'zod';
import type { SignedDecision } from '../approvals/approval-manager.js';
import { agentLineFilter, type LogTap } from '../logs/log-tap.js';
import { unary, type RpcObserver } from './unary.js';

/** What the control service needs from the daemon. */
export interface ControlBackend {
  status(): Promise<controlV1.GetStatusResponse>;
  list(): Promise<controlV1.AgentInfo[]>;
  get(id: string): Promise<controlV1.AgentInfo>;
  start(id: string): Promise<controlV1.AgentInfo>;
  stop(id: string): Promise<controlV1.AgentInfo>;
  restart(id: string): Promise<controlV1.AgentInfo>;
  /** Fingerprints an allowlisted model against its signed baseline. */
  fingerprintModel?(model: string): Promise<controlV1.FingerprintModelResponse>;
  /** Re-reads the config and applies the agent list. Absent = EOS_UNIMPLEMENTED. */
  reload?(): Promise<controlV1.ReloadResponse>;
  /** Recent and new log lines; absent when the daemon was started without a tap. */
  logTap?: LogTap;
  /** Pending (then recently decided) approvals. Absent = EOS_UNIMPLEMENTED. */
  listApprovals?(): Promise<controlV1.ApprovalInfo[]>;
  /** Verifies and applies a signed decision; `source` names the caller for the audit record. */
  decideApproval?(decision: SignedDecision, source: string): Promise<controlV1.ApprovalInfo>;
  emergencyStop?(reason: string): Promise<controlV1.EmergencyStopResponse>;
  clearEmergencyStop?(): Promise<controlV1.ClearEmergencyStopResponse>;
  quarantine?(id: string, reason: string): Promise<controlV1.QuarantineAgentResponse>;
  /** Installs and registers an agent package (`eosd agents add`). */
  install?(req: InstallRequest): Promise<controlV1.InstallAgentResponse>;
  /** Stops, unregisters and removes an installed agent (`eosd agents remove`). */
  remove?(id: string): Promise<controlV1.RemoveAgentResponse>;
}

/** A validated InstallAgent request. */
export interface InstallRequest {
  tarball: Buffer;
  source: string;
  start: boolean;
  /** Absent = the config default. */
  restart?: 'permanent' | 'transient' | 'temporary';
}

/** Largest InstallAgent tarball, bytes (64 MiB). */
const MAX_TARBALL_BYTES = 64 * 1024 * 1024;

const InstallAgentSchema = z.strictObject({
  tarball: z.instanceof(Buffer).refine((b) => b.length > 0 && b.length <= MAX_TARBALL_BYTES, `a package tarball is 1 to ${MAX_TARBALL_BYTES} bytes`),
  source: z.string().max(1_000),
  start: z.boolean(),
  restart: z.enum(['', 'permanent', 'transient', 'temporary']),
});

function parseInstall(req: controlV1.InstallAgentRequest__Output): InstallRequest {
  const r = InstallAgentSchema.safeParse(req);
  if (!r.success) {
    throw new EosError('EOS_INVALID_ARGUMENT', `invalid install request:\n${z.prettifyError(r.error)}`, { cause: r.error });
  }
  const { restart, ...rest } = r.data;
  return restart === '' ? rest : { ...rest, restart };
}

/** Largest operator-written reason, characters. */
const MAX_REASON_CHARS = 1_000;

const DecideApprovalSchema = z.strictObject({
  requestId: z.string().min(1).max(64),
  challenge: z.string().min(1).max(128),
  decision: z.enum(['approve', 'deny']),
  approverKeyId: z.string().min(1).max(64),
  timeMs: z.number().int().positive(),
  reason: z.string().max(MAX_REASON_CHARS),
  signature: z.instanceof(Buffer).refine((b) => b.length === 64, 'an Ed25519 signature is 64 bytes'),
});

function parseDecision(req: controlV1.DecideApprovalRequest__Output): SignedDecision {
  const r = DecideApprovalSchema.safeParse(req);
  if (!r.success) {
    throw new EosError('EOS_INVALID_ARGUMENT', `invalid decision:\n${z.prettifyError(r.error)}`, { cause: r.error });
  }
  return r.data;
}

function reasonOf(reason: string): string {
  if (reason.length > MAX_REASON_CHARS) {
    throw new EosError('EOS_INVALID_ARGUMENT', `a reason is at most ${MAX_REASON_CHARS} characters`);
  }
  return reason;
}

function need<T>(fn: T | undefined, what: string): T {
  if (fn === undefined) {
    throw new EosError('EOS_UNIMPLEMENTED', `${what} is not available in this eosd`);
  }
  return fn;
}

/** Lines sent when a StreamLogs request names no tail. */
const DEFAULT_LOG_TAIL = 100;

/** Name under which the control service reports its health in grpc.health.v1. */
export const CONTROL_HEALTH_SERVICE = 'eos.control.v1.ControlService';

function requireId(id: string): string {
  if (id === '') {
    throw new EosError('EOS_INVALID_ARGUMENT', 'an agent id is required');
  }
  return id;
}

/** The operator's gRPC server on the control socket: ControlService plus grpc.health.v1. */
export class ControlServer {
  // A package tarball travels in one InstallAgent message; the margin covers the other fields.
  readonly #server = new Server({ 'grpc.max_receive_message_length': MAX_TARBALL_BYTES + 64 * 1024 });
  readonly #health = new HealthImplementation({ '': 'NOT_SERVING', [CONTROL_HEALTH_SERVICE]: 'NOT_SERVING' });
  readonly #socketPath: string;

  constructor(socketPath: string, backend: ControlBackend, log: Logger, observe?: RpcObserver) {
    this.#socketPath = socketPath;
    const { eos } = loadControlProto();
    const rpc = <Req, Res>(method: string, handler: (req: Req) => Promise<Res> | Res) => unary(log, method, handler, observe);
    const handlers: controlV1.ControlServiceHandlers = {
      GetStatus: rpc('GetStatus', () => backend.status()),
      ListAgents: rpc('ListAgents', async () => ({ agents: await backend.list() })),
      GetAgent: rpc('GetAgent', async (req: controlV1.GetAgentRequest__Output) => ({ agent: await backend.get(requireId(req.id)) })),
      StartAgent: rpc('StartAgent', async (req: controlV1.StartAgentRequest__Output) => ({
        agent: await backend.start(requireId(req.id)),
      })),
      StopAgent: rpc('StopAgent', async (req: controlV1.StopAgentRequest__Output) => ({
        agent: await backend.stop(requireId(req.id)),
      })),
      RestartAgent: rpc('RestartAgent', async (req: controlV1.RestartAgentRequest__Output) => ({
        agent: await backend.restart(requireId(req.id)),
      })),
      FingerprintModel: rpc('FingerprintModel', (req: controlV1.FingerprintModelRequest__Output) =>
        need(backend.fingerprintModel, 'FingerprintModel').call(backend, req.model),
      ),
      Reload: rpc('Reload', () => need(backend.reload, 'reload').call(backend)),
      StreamLogs: (call: ServerWritableStream<controlV1.StreamLogsRequest__Output, controlV1.StreamLogsResponse>) => {
        const tap = backend.logTap;
        if (tap === undefined) {
          call.emit('error', toServiceError(new EosError('EOS_UNIMPLEMENTED', 'this daemon keeps no log buffer')));
          return;
        }
        const filter = agentLineFilter(call.request.agentId);
        for (const line of tap.recent(call.request.tail || DEFAULT_LOG_TAIL, filter)) {
          call.write({ json: Buffer.from(line) });
        }
        if (!call.request.follow) {
          call.end();
          return;
        }
        const stop = tap.follow((line) => {
          if (filter(line)) {
            call.write({ json: Buffer.from(line) });
          }
        });
        call.on('cancelled', stop);
        call.on('close', stop);
      },
      ListApprovals: rpc('ListApprovals', async () => ({ approvals: await need(backend.listApprovals, 'ListApprovals')() })),
      DecideApproval: rpc('DecideApproval', async (req: controlV1.DecideApprovalRequest__Output) => ({
        approval: await need(backend.decideApproval, 'DecideApproval')(parseDecision(req), 'control-socket'),
      })),
      EmergencyStop: rpc('EmergencyStop', (req: controlV1.EmergencyStopRequest__Output) =>
        need(backend.emergencyStop, 'EmergencyStop')(reasonOf(req.reason)),
      ),
      ClearEmergencyStop: rpc('ClearEmergencyStop', () => need(backend.clearEmergencyStop, 'ClearEmergencyStop')()),
      QuarantineAgent: rpc('QuarantineAgent', (req: controlV1.QuarantineAgentRequest__Output) =>
        need(backend.quarantine, 'QuarantineAgent')(requireId(req.id), reasonOf(req.reason)),
      ),
      InstallAgent: rpc('InstallAgent', (req: controlV1.InstallAgentRequest__Output) => need(backend.install, 'InstallAgent')(parseInstall(req))),
      RemoveAgent: rpc('RemoveAgent', (req: controlV1.RemoveAgentRequest__Output) => need(backend.remove, 'RemoveAgent')(requireId(req.id))),
    };
    this.#server.addService(eos.control.v1.ControlService.service, handlers);
    this.#health.addToServer(this.#server);
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#server.bindAsync(`unix:${this.#socketPath}`, ServerCredentials.createInsecure(), (err) => {
        if (err) {
          reject(new EosError('EOS_UNAVAILABLE', `cannot bind the control socket ${this.#socketPath}: ${err.message}`, { cause: err }));
        } else {
          resolve();
        }
      });
    });
  }

  setServing(serving: boolean): void {
    const s = serving ? 'SERVING' : 'NOT_SERVING';
    this.#health.setStatus('', s);
    this.#health.setStatus(CONTROL_HEALTH_SERVICE, s);
  }

  close(): Promise<void> {
    this.setServing(false);
    return new Promise((resolve) => {
      this.#server.tryShutdown(() => resolve());
      setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, 2_000).unref();
    });
  }
}
