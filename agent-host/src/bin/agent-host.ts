#!/usr/bin/env node
// agent-host: the process that runs one agent. Started by the supervisor only, with the bootstrap
// on fd 3. Process globals are captured here, before any author code is imported.
import { createHostLogger } from '../host-log.js';
import { readBootstrap } from '../read-bootstrap.js';
import { EXIT, runAgent } from '../run-agent.js';

// The code-cached start (dist/bundle/agent-host.cjs) leaves an importer here: a script compiled
// from a V8 code cache loses its dynamic-import callback, so `import()` inside the bundle fails.
// Taken and removed before any author code runs.
const IMPORT_HOOK = Symbol.for('eosd.agent-host.importModule');
const importHook = (globalThis as Record<symbol, unknown>)[IMPORT_HOOK];
delete (globalThis as Record<symbol, unknown>)[IMPORT_HOOK];
const importModule = typeof importHook === 'function' ? (importHook as (url: string) => Promise<unknown>) : undefined;
// Only the loader's code-cache training (--produce-code-cache with --train-socket, run by the
// supervisor with a no-op agent) leaves this: it writes the cache once the start is complete.
const TRAINED_HOOK = Symbol.for('eosd.agent-host.trained');
const trainedHook = (globalThis as Record<symbol, unknown>)[TRAINED_HOOK];
delete (globalThis as Record<symbol, unknown>)[TRAINED_HOOK];
const onReady = typeof trainedHook === 'function' ? (trainedHook as () => void) : undefined;

const realExit = process.exit.bind(process) as (code?: number) => never;
const writeStdout = process.stdout.write.bind(process.stdout);
let log = createHostLogger((line) => writeStdout(line), undefined);

function exit(code: number): never {
  // Let stdout flush the last log lines before the process ends.
  process.stdout.write('', () => realExit(code));
  setTimeout(() => realExit(code), 500).unref();
  return undefined as never;
}

process.exit = ((code?: number) => {
  log('warn', { code }, 'agent code called process.exit; ignored (the supervisor decides when an agent stops)');
  return undefined as never;
}) as typeof process.exit;

process.on('uncaughtException', (err) => {
  log('fatal', { err, code: 'EOS_AGENT_FAILED' }, 'uncaught exception');
  exit(EXIT.agentFailed);
});
process.on('unhandledRejection', (err) => {
  log('fatal', { err, code: 'EOS_AGENT_FAILED' }, 'unhandled rejection');
  exit(EXIT.agentFailed);
});

// No top-level await: the same entry is also bundled as CommonJS (the code-cached start, see
// scripts/bundle.mjs), where top-level await does not exist.
async function main(): Promise<void> {
  const { bootstrap, closed } = await readBootstrap();
  log = createHostLogger((line) => writeStdout(line), bootstrap.agentId);
  await runAgent({
    bootstrap,
    lifelineClosed: closed,
    log,
    exit,
    ...(importModule === undefined ? {} : { importModule }),
    ...(onReady === undefined ? {} : { onReady }),
  });
}

main().catch((err: unknown) => {
  log('fatal', { err }, 'agent-host failed before the agent started');
  exit(EXIT.protocol);
});
