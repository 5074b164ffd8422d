import { Agent, type AgentEvent } from '@everythingos/sdk';

interface Ping {
  n: number;
  at: number;
}

/** Answers every ping with a pong and publishes its own heartbeat on every tick. */
export default class HeartbeatAgent extends Agent {
  #answered = 0;
  #beats = 0;

  protected override async onStart(): Promise<void> {
    await this.subscribe<Ping>('demo.ping', async (e: AgentEvent<Ping>) => {
      this.#answered++;
      this.log('info', 'ping received', { n: e.payload.n, from: e.source });
      await this.emit('demo.pong', { n: e.payload.n, at: e.payload.at }, { priority: 'high' });
    });
  }

  protected override async onTick(): Promise<void> {
    this.#beats++;
    await this.emit('demo.heartbeat', { beat: this.#beats, answered: this.#answered }, { priority: 'low' });
  }

  override healthCheck() {
    return { status: 'healthy' as const, details: { answered: this.#answered } };
  }
}
