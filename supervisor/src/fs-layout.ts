import { chmod, chown, mkdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { EosError } from '@everythingos/proto';

/** Where one agent's files live. */
export interface AgentPaths {
  /** Holds the socket; root-owned, group = the agent's gid, 0750 (dev: 0700). */
  socketDir: string;
  socketPath: string;
  /** Supervisor-owned files of the agent (state.json); 0711 so the agent can reach its home. */
  stateDir: string;
  /** The agent's own writable home; owned by its uid, 0700. */
  homeDir: string;
}

export function agentPaths(runDir: string, stateDir: string, id: string): AgentPaths {
  const socketDir = join(runDir, 'agents', id);
  const agentState = join(stateDir, 'agents', id);
  return { socketDir, socketPath: join(socketDir, 'agent.sock'), stateDir: agentState, homeDir: join(agentState, 'home') };
}

/** Creates `dir` (and parents) and forces its mode and owner. */
export async function ensureDir(dir: string, mode: number, owner?: { uid: number; gid: number }): Promise<void> {
  await mkdir(dir, { recursive: true, mode });
  await chmod(dir, mode);
  if (owner !== undefined) {
    await chown(dir, owner.uid, owner.gid);
  }
}

/**
 * Agents running under their own uid must be able to traverse every ancestor of their socket
 * and home directories. Checks that, so a bad location fails at start with a clear message
 * instead of agents dying with EACCES.
 * @throws EosError `EOS_CONFIG_INVALID`
 */
export async function assertTraversable(dir: string): Promise<void> {
  for (let d = dirname(dir); ; d = dirname(d)) {
    const st = await stat(d).catch(() => undefined);
    if (st !== undefined && (st.mode & 0o001) === 0) {
      throw new EosError(
        'EOS_CONFIG_INVALID',
        `${d} is not traversable by agent uids (mode ${(st.mode & 0o777).toString(8)}); chmod o+x it or choose another directory than ${dir}`,
      );
    }
    if (d === dirname(d)) {
      return;
    }
  }
}
