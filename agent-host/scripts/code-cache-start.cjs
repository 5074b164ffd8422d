'use strict';
// Code-cached start of agent-host (copied to dist/bundle/agent-host.cjs by scripts/bundle.mjs).
// Compiles the CommonJS bundle next to it (agent-host-body.cjs) with a V8 code cache, so an agent
// start does not parse and compile grpc-js, protobufjs and agent-host again (P5 in
// docs/performance.md). Arguments:
//   --code-cache=<file>          use this cache (written by root, bound read-only into the sandbox);
//                                a cache V8 rejects (other node, flags or bundle) only costs the compile
//   --produce-code-cache=<file>  evaluate the bundle's top level, write the cache, exit: what the
//                                supervisor runs once, as root, with the agents' V8 flags
// The cache file name must carry the bundle's content hash: V8 checks only the source length.
const { readFileSync, writeFileSync } = require('node:fs');
const { wrap } = require('node:module');
const { join } = require('node:path');
const vm = require('node:vm');

const BODY = join(__dirname, 'agent-host-body.cjs');
const USE = '--code-cache=';
const PRODUCE = '--produce-code-cache=';
const useArg = process.argv.find((a) => a.startsWith(USE));
const produceArg = process.argv.find((a) => a.startsWith(PRODUCE));

const text = readFileSync(BODY, 'utf8');
// A hashbang is valid only at the very start of a script, not inside the CommonJS wrapper.
const source = text.startsWith('#!') ? `//${text.slice(2)}` : text;
const cachedData = useArg === undefined ? undefined : readFileSync(useArg.slice(USE.length));
const script = new vm.Script(wrap(source), {
  filename: BODY,
  cachedData,
});
// A script compiled from a code cache has no dynamic-import callback (V8 does not keep it), so
// the body imports the agent's ESM entry with this file's import(); agent-host's entry takes the
// function and deletes the global before any agent code runs.
globalThis[Symbol.for('eosd.agent-host.importModule')] = (url) => import(url);
if (cachedData !== undefined && script.cachedDataRejected === true) {
  process.stderr.write(`agent-host code cache ${useArg.slice(USE.length)} rejected by V8 (other node, flags or bundle); compiled without it\n`);
}
// The body replaces process.exit (agent code must not end the process); keep the real one.
const realExit = process.exit.bind(process);
const bodyModule = { exports: {} };
script.runInThisContext().call(bodyModule.exports, bodyModule.exports, require, bodyModule, BODY, __dirname);
if (produceArg !== undefined) {
  // Started without fd 3, the body's main fails asynchronously; its top level has run, so the
  // functions it compiled are in the cache too. Write it and end before anything else runs.
  writeFileSync(produceArg.slice(PRODUCE.length), script.createCachedData(), { mode: 0o644, flag: 'wx' });
  realExit(0);
}
