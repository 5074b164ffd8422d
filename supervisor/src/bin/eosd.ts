#!/usr/bin/env node
// The eosd command: the only place that touches argv, env, signals, process.exit and the root logger.
import { createInterface, type Interface } from 'node:readline/promises';
import { hideBin } from 'yargs/helpers';
import { pino } from 'pino';
import { EosError } from '@everythingos/proto';
import { runCli } from '../cli/main.js';

let exitCode = 0;
let prompt: Interface | undefined;
let lines: AsyncIterator<string> | undefined;
await runCli({
  argv: hideBin(process.argv),
  env: process.env,
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  createLogger: (level, tap) =>
    pino(
      { level, base: { pid: process.pid }, redact: ['*.sessionKey', '*.secret', '*.token'] },
      pino.multistream([{ stream: process.stdout, level: level as pino.Level }, { stream: tap, level: level as pino.Level }]),
    ),
  isTty: process.stdout.isTTY === true,
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) {
      chunks.push(c as Buffer);
    }
    return Buffer.concat(chunks);
  },
  onReloadSignal: (reload) => {
    process.on('SIGHUP', () => reload());
  },
  onStopSignal: (graceful, force) => {
    let count = 0;
    const handler = (signal: NodeJS.Signals): void => {
      count++;
      if (count === 1) {
        graceful(signal);
      } else {
        force();
      }
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  },
  cwd: process.cwd(),
  ask: process.stdin.isTTY
    ? async (question) => {
        // One line iterator for the whole run: it queues typed-ahead (or pasted) lines, which
        // rl.question() would drop when they arrive before the question is asked.
        prompt ??= createInterface({ input: process.stdin, output: process.stdout, terminal: false });
        lines ??= prompt[Symbol.asyncIterator]();
        process.stdout.write(question);
        const next = await lines.next();
        if (next.done === true) {
          throw new EosError('EOS_INVALID_ARGUMENT', 'no answer: input closed');
        }
        return next.value;
      }
    : undefined,
  exit: (code) => {
    exitCode = code;
    process.exit(code);
  },
});
prompt?.close();
process.exitCode = exitCode;
