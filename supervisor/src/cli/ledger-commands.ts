import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Argv } from 'yargs';
import { EosError } from '@everythingos/proto';
import { loadConfig } from '../config/load-config.js';
import { ledgerStatus, proveInclusion, queryLedger, verifyInclusionProof, verifyLedger } from '../ledger/index.js';
import { keyPaths, ledgerDirs } from '../services.js';

interface LedgerArgs {
  config?: string;
  'state-dir'?: string;
  stream?: string;
  dir?: string;
  'public-key'?: string;
  json?: boolean;
}

/** Output and exit for the ledger commands. */
export interface LedgerCliIo {
  out: (text: string) => void;
  exit: (code: number) => void;
}

async function resolveLedger(args: LedgerArgs): Promise<{ dir: string; publicKey: string }> {
  let stateDir: string | undefined;
  if (args['state-dir'] !== undefined) {
    stateDir = resolve(args['state-dir']);
  } else if (args.config !== undefined) {
    stateDir = (await loadConfig(args.config)).stateDir;
  } else if (args.dir === undefined) {
    stateDir = '/var/lib/eosd';
  }
  const stream = (args.stream ?? 'decisions') as 'audit' | 'decisions';
  const dir = args.dir !== undefined ? resolve(args.dir) : ledgerDirs(stateDir ?? '/var/lib/eosd')[stream];
  const pubPath = args['public-key'] ?? (stateDir === undefined ? join(dir, '..', '..', 'keys', 'ledger.key.pub') : `${keyPaths(stateDir).ledger}.pub`);
  let publicKey: string;
  try {
    publicKey = (await readFile(pubPath, 'utf8')).trim();
  } catch (err) {
    throw new EosError('EOS_NOT_FOUND', `cannot read the ledger public key ${pubPath}; pass --public-key`, { cause: err });
  }
  return { dir, publicKey };
}

/** `eosd ledger verify|status|prove|query`: offline tools over the ledger files and the public key. */
export function ledgerCommands(y: Argv, io: LedgerCliIo): Argv {
  const common = (yy: Argv): Argv =>
    yy
      .option('stream', { choices: ['audit', 'decisions'], default: 'decisions', describe: 'which ledger' })
      .option('dir', { type: 'string', describe: 'a ledger directory (instead of --state-dir/--config and --stream)' })
      .option('public-key', { type: 'string', describe: 'file with the base64 ledger public key (default: <stateDir>/keys/ledger.key.pub)' });
  return y
    .command(
      'verify',
      'verify canonical form, sequence, hash links, every checkpoint signature and Merkle root, and the head',
      common,
      async (args) => {
        const { dir, publicKey } = await resolveLedger(args as LedgerArgs);
        const r = await verifyLedger(dir, publicKey);
        const out = { valid: r.valid, records: r.records, checkpoints: r.checkpoints, ...(r.error === undefined ? {} : { error: r.error }) };
        if ((args as LedgerArgs).json) {
          io.out(JSON.stringify(out));
        } else {
          io.out(r.valid ? `ledger ${dir}: valid, ${r.records} records, ${r.checkpoints} checkpoints` : `ledger ${dir}: INVALID: ${JSON.stringify(r.error)}`);
        }
        if (!r.valid) {
          io.exit(1);
        }
      },
    )
    .command('status', 'the latest checkpoint (compare its hash out of band)', common, async (args) => {
      const { dir, publicKey } = await resolveLedger(args as LedgerArgs);
      const s = ledgerStatus(dir, publicKey);
      io.out(
        (args as LedgerArgs).json
          ? JSON.stringify(s)
          : [
              `ledger ${s.origin} (${s.state}), ${s.headSize} records in ${s.segments} segment(s)`,
              s.latestCheckpoint === null ? 'no checkpoint' : `latest checkpoint: size ${s.latestCheckpoint.size}, hash ${s.latestCheckpoint.hash}`,
            ].join('\n'),
      );
    })
    .command(
      'prove <seq>',
      'an inclusion proof of record <seq> against the latest checkpoint (JSON, verifiable offline)',
      (yy: Argv) => common(yy).positional('seq', { type: 'number', demandOption: true }),
      async (args) => {
        const { dir, publicKey } = await resolveLedger(args as LedgerArgs);
        const proof = proveInclusion(dir, Number(args.seq), publicKey);
        const verdict = verifyInclusionProof(proof, undefined, publicKey);
        io.out(JSON.stringify({ ...proof, verified: verdict.valid }));
        if (!verdict.valid) {
          io.exit(1);
        }
      },
    )
    .command(
      'query',
      'records by agent, kind (or kind prefix ending in "."), and time',
      (yy: Argv) =>
        common(yy)
          .option('agent', { type: 'string' })
          .option('kind', { type: 'string' })
          .option('since', { type: 'string', describe: 'ISO time or ms since the epoch' })
          .option('until', { type: 'string', describe: 'ISO time or ms since the epoch' })
          .option('limit', { type: 'number', default: 1000 }),
      async (args) => {
        const { dir } = await resolveLedger(args as LedgerArgs);
        const time = (v: unknown): number | undefined => (v === undefined ? undefined : /^\d+$/.test(String(v)) ? Number(v) : Date.parse(String(v)));
        const since = time(args.since);
        const until = time(args.until);
        const records = queryLedger(dir, {
          ...(args.agent === undefined ? {} : { agent: String(args.agent) }),
          ...(args.kind === undefined ? {} : { kind: String(args.kind) }),
          ...(since === undefined ? {} : { since }),
          ...(until === undefined ? {} : { until }),
          limit: Number(args.limit),
        });
        for (const r of records) {
          io.out(JSON.stringify(r));
        }
      },
    )
    .demandCommand(1, 'name a ledger subcommand: verify, status, prove, query');
}
