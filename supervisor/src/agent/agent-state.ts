import { EosError } from '@everythingos/proto';

/** Where an agent is in its life. */
export type AgentState = 'starting' | 'running' | 'stopping' | 'stopped' | 'backoff' | 'errored';

/** What moves an agent between states. */
export type AgentEvent =
  | 'start' // operator or autostart
  | 'ready' // agent-host reported onStart done
  | 'stop' // operator or daemon shutdown
  | 'exited-restart' // the process ended and the restart policy restarts it
  | 'exited-stop' // the process ended and the policy does not restart it
  | 'exited-give-up' // the process ended past the restart intensity
  | 'exited' // the process ended while stopping
  | 'backoff-elapsed';

const TRANSITIONS: Record<AgentState, Partial<Record<AgentEvent, AgentState>>> = {
  stopped: { start: 'starting' },
  errored: { start: 'starting' },
  starting: {
    ready: 'running',
    stop: 'stopping',
    'exited-restart': 'backoff',
    'exited-stop': 'stopped',
    'exited-give-up': 'errored',
  },
  running: {
    stop: 'stopping',
    'exited-restart': 'backoff',
    'exited-stop': 'stopped',
    'exited-give-up': 'errored',
  },
  stopping: { exited: 'stopped' },
  backoff: { 'backoff-elapsed': 'starting', start: 'starting', stop: 'stopped' },
};

/**
 * The one place agent states change: the next state for `event` in `state`.
 * @throws EosError `EOS_ILLEGAL_STATE` when the event is not allowed in that state.
 */
export function transition(state: AgentState, event: AgentEvent): AgentState {
  const next = TRANSITIONS[state][event];
  if (next === undefined) {
    throw new EosError('EOS_ILLEGAL_STATE', `cannot ${event} an agent that is ${state}`, { details: { state, event } });
  }
  return next;
}

/** Whether `event` is allowed in `state`. */
export function canTransition(state: AgentState, event: AgentEvent): boolean {
  return TRANSITIONS[state][event] !== undefined;
}
