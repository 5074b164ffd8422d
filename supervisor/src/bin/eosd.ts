#!/usr/bin/env node
// The eosd command: the only place that touches argv, env, signals, process.exit and the root logger.
import { createInterface } from 'node:readline/promises';
import { hideBin } from 'yargs/helpers';
import { pino } from 'pino';
import { runCli } from '../cli/main.js';

let exitCode = 0;
await runCli({
  argv: hideBin(process.argv),
  env: process.env,
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  createLogger: (level) => pino({ level, base: { pid: process.pid }, redact: ['*.sessionKey', '*.secret', '*.token'] }),
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
        const rl = createInterface({ input: process.stdin, output: process.stdout });
        try {
          return await rl.question(question);
        } finally {
          rl.close();
        }
      }
    : undefined,
  exit: (code) => {
    exitCode = code;
    process.exit(code);
  },
});
process.exitCode = exitCode;
