#!/usr/bin/env node
// The eosd command: the only place that touches argv, env, signals, process.exit and the root logger.
import { hideBin } from 'yargs/helpers';
import { pino } from 'pino';
import { runCli } from '../cli/main.js';

let exitCode = 0;
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
  exit: (code) => {
    exitCode = code;
    process.exit(code);
  },
});
process.exitCode = exitCode;
