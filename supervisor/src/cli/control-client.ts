import { credentials, type ServiceError } from '@grpc/grpc-js';
import { fromServiceError, loadControlProto, type controlV1 } from '@everythingos/proto';

/** Deadline of control calls, ms: long enough for a stop that escalates to SIGKILL. */
const CONTROL_DEADLINE_MS = 60_000;
/** Deadline of InstallAgent, ms: the daemon's npm install of registry dependencies is capped at 5 min, plus a start. */
const INSTALL_DEADLINE_MS = 420_000;

/** A promise-based client of the control socket, as the CLI and tests use it. Errors are `EosError`s. */
export interface ControlClient {
  getStatus(): Promise<controlV1.GetStatusResponse__Output>;
  listAgents(): Promise<controlV1.AgentInfo__Output[]>;
  getAgent(id: string): Promise<controlV1.AgentInfo__Output>;
  startAgent(id: string): Promise<controlV1.AgentInfo__Output>;
  stopAgent(id: string): Promise<controlV1.AgentInfo__Output>;
  restartAgent(id: string): Promise<controlV1.AgentInfo__Output>;
  reload(): Promise<controlV1.ReloadResponse__Output>;
  fingerprintModel(model: string): Promise<controlV1.FingerprintModelResponse__Output>;
  /** Calls `onLine` with every log line; resolves when the stream ends (never, with follow). */
  streamLogs(req: controlV1.StreamLogsRequest, onLine: (json: string) => void): Promise<void>;
  listApprovals(): Promise<controlV1.ApprovalInfo__Output[]>;
  decideApproval(req: controlV1.DecideApprovalRequest): Promise<controlV1.ApprovalInfo__Output>;
  emergencyStop(reason: string): Promise<controlV1.EmergencyStopResponse__Output>;
  clearEmergencyStop(): Promise<controlV1.ClearEmergencyStopResponse__Output>;
  quarantineAgent(id: string, reason: string): Promise<controlV1.QuarantineAgentResponse__Output>;
  /** Installs a package tarball (with a 7 min deadline: the daemon's npm may fetch dependencies). */
  installAgent(req: controlV1.InstallAgentRequest): Promise<controlV1.InstallAgentResponse__Output>;
  removeAgent(id: string): Promise<controlV1.RemoveAgentResponse__Output>;
  close(): void;
}

type Method<Req, Res> = (req: Req, opts: { deadline: number }, cb: (err: ServiceError | null, res?: Res) => void) => unknown;

/** Connects to the control socket at `socketPath` (lazily: the first call dials). */
export function createControlClient(socketPath: string): ControlClient {
  const { eos } = loadControlProto();
  const client = new eos.control.v1.ControlService(`unix:${socketPath}`, credentials.createInsecure());
  function call<Req, Res>(method: Method<Req, Res>, req: Req, deadlineMs = CONTROL_DEADLINE_MS): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      method.call(client, req, { deadline: Date.now() + deadlineMs }, (err, res) => {
        if (err !== null || res === undefined) {
          reject(fromServiceError(err));
        } else {
          resolve(res);
        }
      });
    });
  }
  const agentOf = (r: { agent: controlV1.AgentInfo__Output | null }): controlV1.AgentInfo__Output => {
    if (r.agent === null) {
      throw new Error('control response without agent');
    }
    return r.agent;
  };
  return {
    getStatus: () => call(client.getStatus as Method<controlV1.GetStatusRequest, controlV1.GetStatusResponse__Output>, {}),
    listAgents: async () =>
      (await call(client.listAgents as Method<controlV1.ListAgentsRequest, controlV1.ListAgentsResponse__Output>, {})).agents,
    getAgent: async (id) =>
      agentOf(await call(client.getAgent as Method<controlV1.GetAgentRequest, controlV1.GetAgentResponse__Output>, { id })),
    startAgent: async (id) =>
      agentOf(await call(client.startAgent as Method<controlV1.StartAgentRequest, controlV1.StartAgentResponse__Output>, { id })),
    stopAgent: async (id) =>
      agentOf(await call(client.stopAgent as Method<controlV1.StopAgentRequest, controlV1.StopAgentResponse__Output>, { id })),
    restartAgent: async (id) =>
      agentOf(
        await call(client.restartAgent as Method<controlV1.RestartAgentRequest, controlV1.RestartAgentResponse__Output>, { id }),
      ),
    streamLogs: (req, onLine) =>
      new Promise<void>((resolve, reject) => {
        const stream = client.streamLogs(req);
        stream.on('data', (m: controlV1.StreamLogsResponse__Output) => onLine(m.json.toString('utf8')));
        stream.on('end', () => resolve());
        stream.on('error', (err) => reject(fromServiceError(err)));
      }),
    listApprovals: async () =>
      (await call(client.listApprovals as Method<controlV1.ListApprovalsRequest, controlV1.ListApprovalsResponse__Output>, {})).approvals,
    decideApproval: async (req) => {
      const r = await call(client.decideApproval as Method<controlV1.DecideApprovalRequest, controlV1.DecideApprovalResponse__Output>, req);
      if (r.approval === null) {
        throw new Error('control response without approval');
      }
      return r.approval;
    },
    emergencyStop: (reason) => call(client.emergencyStop as Method<controlV1.EmergencyStopRequest, controlV1.EmergencyStopResponse__Output>, { reason }),
    clearEmergencyStop: () =>
      call(client.clearEmergencyStop as Method<controlV1.ClearEmergencyStopRequest, controlV1.ClearEmergencyStopResponse__Output>, {}),
    quarantineAgent: (id, reason) =>
      call(client.quarantineAgent as Method<controlV1.QuarantineAgentRequest, controlV1.QuarantineAgentResponse__Output>, { id, reason }),
    fingerprintModel: (model) =>
      call(client.fingerprintModel as Method<controlV1.FingerprintModelRequest, controlV1.FingerprintModelResponse__Output>, { model }),
    installAgent: (req) =>
      call(client.installAgent as Method<controlV1.InstallAgentRequest, controlV1.InstallAgentResponse__Output>, req, INSTALL_DEADLINE_MS),
    removeAgent: (id) => call(client.removeAgent as Method<controlV1.RemoveAgentRequest, controlV1.RemoveAgentResponse__Output>, { id }),
    reload: () => call(client.reload as Method<controlV1.ReloadRequest, controlV1.ReloadResponse__Output>, {}),
    close: () => client.close(),
  };
}
