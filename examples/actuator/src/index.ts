import { Agent, isEosError, type AgentEvent } from '@everythingos/sdk';

/** A request to move a device. */
interface Command {
  id: string;
  device: string;
  action: string;
  reason?: string;
}

/** The outcome published on `actuator.result` for every command. */
export interface CommandResult {
  id: string;
  outcome: 'done' | 'refused' | 'failed';
  /** The bus event id of the action, when it was released. */
  eventId?: string;
  /** The EOS_* code of a refusal or failure. */
  code?: string;
}

const DEVICE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const ACTIONS = new Set(['open', 'close', 'start', 'stop']);

/**
 * A HIGH-tier agent: each command on `actuator.command` becomes an `act()` on `actuator.action`, the
 * channel the device controllers listen on. Because the agent is HIGH, the supervisor holds every act
 * until a registered approver signs it (`eosd approvals ls`, `eosd approve`/`deny`); an approved act is
 * recorded in the decision ledger and then delivered, a denied or expired one answers
 * `EOS_APPROVAL_DENIED`. Either way the agent reports the outcome on `actuator.result`.
 */
export default class ActuatorAgent extends Agent {
  protected override async onStart(): Promise<void> {
    await this.subscribe<Command>('actuator.command', (e) => this.#command(e));
  }

  async #command(e: AgentEvent<Command>): Promise<void> {
    const c = e.payload;
    if (typeof c.id !== 'string' || typeof c.device !== 'string' || !DEVICE.test(c.device) || !ACTIONS.has(c.action)) {
      this.log('warn', 'malformed command ignored', { from: e.source });
      return;
    }
    let result: CommandResult;
    try {
      const { eventId } = await this.act(
        'actuator.action',
        { id: c.id, device: c.device, action: c.action },
        { priority: 'high', reason: `${c.action} ${c.device} for ${e.source}${c.reason === undefined ? '' : `: ${String(c.reason)}`}` },
      );
      result = { id: c.id, outcome: 'done', eventId };
      this.log('info', 'action released', { id: c.id, device: c.device, action: c.action, eventId });
    } catch (err) {
      if (!isEosError(err)) {
        throw err;
      }
      const refused = err.code === 'EOS_APPROVAL_DENIED';
      result = { id: c.id, outcome: refused ? 'refused' : 'failed', code: err.code };
      this.log(refused ? 'info' : 'error', refused ? 'action refused by an approver' : 'action failed', { id: c.id, code: result.code });
    }
    await this.emit('actuator.result', result);
  }
}
