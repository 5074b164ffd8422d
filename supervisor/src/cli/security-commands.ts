import { join, resolve } from 'node:path';
import type { Argv } from 'yargs';
import type { Logger } from 'pino';
import { EosError } from '@everythingos/proto';
import { loadConfig } from '../config/load-config.js';
import { publicSanitizeResult } from '../rpc/agent-server.js';
import { sanitize } from '../security/sanitize/index.js';
import { Vault } from '../security/vault/index.js';
import { keyPaths } from '../services.js';

export interface SecurityCliIo {
  out: (text: string) => void;
  readStdin: () => Promise<Buffer>;
  createLogger: (level: string) => Logger;
}

async function stateDirOf(args: { config?: string; 'state-dir'?: string }): Promise<string> {
  if (args['state-dir'] !== undefined) {
    return resolve(args['state-dir']);
  }
  if (args.config !== undefined) {
    return (await loadConfig(args.config)).stateDir;
  }
  return '/var/lib/eosd';
}

/** `eosd sanitize`: the operator's way to see what the sanitizer makes of a text. */
export async function runSanitize(io: Pick<SecurityCliIo, 'out' | 'readStdin'>): Promise<void> {
  const text = (await io.readStdin()).toString('utf8');
  io.out(JSON.stringify(publicSanitizeResult(sanitize(text))));
}

/** `eosd secrets set NAME` (value on stdin) and `eosd secrets ls`, on the vault files. */
export function secretsCommands(y: Argv, io: SecurityCliIo): Argv {
  const openVault = async (args: object): Promise<Vault> => {
    const stateDir = await stateDirOf(args as { config?: string; 'state-dir'?: string });
    return Vault.open(join(stateDir, 'vault'), keyPaths(stateDir).vault, {
      logger: io.createLogger('warn'),
      // Offline edits are recorded by the daemon when it reloads; the vault's own files carry no secret in clear.
      audit: () => undefined,
    });
  };
  return y
    .command(
      'set <name>',
      'store a secret read from stdin (sealed at rest; never in config or environments)',
      (yy: Argv) => yy.positional('name', { type: 'string', demandOption: true }),
      async (args) => {
        const value = await io.readStdin();
        const secret = value.subarray(0, value.length - (value.at(-1) === 0x0a ? 1 : 0));
        if (secret.length === 0) {
          throw new EosError('EOS_INVALID_ARGUMENT', 'no secret on stdin');
        }
        const vault = await openVault(args);
        await vault.set(String(args.name), secret);
        io.out(`stored secret ${String(args.name)} (${secret.length} bytes); a running daemon reads it when an agent first asks for it`);
      },
    )
    .command('ls', 'list secret names (never values)', (yy: Argv) => yy, async (args) => {
      const vault = await openVault(args);
      for (const name of vault.list()) {
        io.out(name);
      }
    })
    .demandCommand(1, 'name a secrets subcommand: set, ls');
}
