// P3: durable act()/s. Needs the ledger (issue in progress on another branch).
export const id = 'p3';
export const title = 'durable act()/s (ack after fdatasync, group commit)';

export async function run() {
  return { available: false, reason: 'not available: ledger not built' };
}
