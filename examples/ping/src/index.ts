import { Agent, type AgentEvent } from '@everythingos/sdk';

interface Pong {
  n: number;
  at: number;
}

/** Sends a ping on every tick and logs the round trip of each pong it gets back. */
export default class PingAgent extends Agent {
  #n = 0;

  protected override async onStart(): Promise<void> {
    this.#n = (await this.getState<number>('sent')) ?? 0;
    await this.subscribe<Pong>('demo.pong', (e: AgentEvent<Pong>) => {
      this.log('info', 'pong received', { n: e.payload.n, from: e.source, roundTripMs: Date.now() - e.payload.at });
    });
  }

  protected override async onTick(): Promise<void> {
    this.#n++;
    await this.emit('demo.ping', { n: this.#n, at: Date.now() });
    await this.setState('sent', this.#n);
  }
}
