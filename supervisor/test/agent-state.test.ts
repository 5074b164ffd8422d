import { describe, expect, it } from 'vitest';
import { canTransition, transition, type AgentEvent, type AgentState } from '../src/agent/agent-state.js';

describe('agent state machine', () => {
  it('walks a normal life: start, ready, stop, exit', () => {
    let s: AgentState = 'stopped';
    for (const e of ['start', 'ready', 'stop', 'exited'] as AgentEvent[]) {
      s = transition(s, e);
    }
    expect(s).toBe('stopped');
  });

  it('goes through backoff on a crash and to errored past the intensity', () => {
    expect(transition('running', 'exited-restart')).toBe('backoff');
    expect(transition('backoff', 'backoff-elapsed')).toBe('starting');
    expect(transition('starting', 'exited-give-up')).toBe('errored');
    expect(transition('errored', 'start')).toBe('starting');
  });

  it('refuses illegal transitions with EOS_ILLEGAL_STATE', () => {
    expect(() => transition('running', 'start')).toThrow(expect.objectContaining({ code: 'EOS_ILLEGAL_STATE' }));
    expect(() => transition('stopped', 'ready')).toThrow(expect.objectContaining({ code: 'EOS_ILLEGAL_STATE' }));
    expect(canTransition('stopping', 'start')).toBe(false);
    expect(canTransition('backoff', 'stop')).toBe(true);
  });
});
