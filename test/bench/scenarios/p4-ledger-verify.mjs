// P4: ledger verify rate on 1M records. Needs the ledger (issue in progress on another branch).
export const id = 'p4';
export const title = 'ledger verify rate on 1M records';

export async function run() {
  return { available: false, reason: 'not available: ledger not built' };
}
