'use strict';
// Code-cached start of agent-host (copied to dist/bundle/agent-host.cjs by scripts/bundle.mjs).
// Compiles the CommonJS bundle next to it (agent-host-body.cjs) with a V8 code cache, so an agent
// start does not parse and compile agent-host and the code it bundles again (P5 in
// docs/performance.md). Arguments:
//   --code-cache=<file>          use this cache (written by root, bound read-only into the sandbox);
//                                a cache V8 rejects (other node, flags or bundle) only costs the compile
//   --produce-code-cache=<file>  evaluate the bundle's top level, write the cache, exit: what the
//                                supervisor runs once, as root, with the agents' V8 flags
//   --train-socket=<path>        with --produce-code-cache: first run one whole start (bootstrap on
//                                fd 3, Hello, Session, import of a no-op agent, onStart, Ready) against
//                                a stand-in supervisor on this socket, so the functions compiled on
//                                that path (the gRPC client, HTTP/2, the codecs) are in the cache too
// The cache file name must carry the bundle's content hash: V8 checks only the source length.
const { readFileSync, writeFileSync } = require('node:fs');
const { wrap } = require('node:module');
const { join } = require('node:path');
const vm = require('node:vm');
const { Buffer } = require('node:buffer');

const BODY = join(__dirname, 'agent-host-body.cjs');
const USE = '--code-cache=';
const PRODUCE = '--produce-code-cache=';
const TRAIN = '--train-socket=';
const useArg = process.argv.find((a) => a.startsWith(USE));
const produceArg = process.argv.find((a) => a.startsWith(PRODUCE));
const trainArg = produceArg === undefined ? undefined : process.argv.find((a) => a.startsWith(TRAIN));

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
const runBody = () => script.runInThisContext().call(bodyModule.exports, bodyModule.exports, require, bodyModule, BODY, __dirname);
if (trainArg !== undefined) {
  train(trainArg.slice(TRAIN.length), produceArg.slice(PRODUCE.length));
} else {
  runBody();
}
if (produceArg !== undefined && trainArg === undefined) {
  // Started without fd 3, the body's main fails asynchronously; its top level has run, so the
  // functions it compiled are in the cache too. Write it and end before anything else runs.
  writeFileSync(produceArg.slice(PRODUCE.length), script.createCachedData(), { mode: 0o644, flag: 'wx' });
  realExit(0);
}

/** A protobuf field: varint for numbers, length-delimited for strings and buffers. */
function field(no, value) {
  const varint = (n) => {
    const out = [];
    for (; n > 0x7f; n >>>= 7) out.push((n & 0x7f) | 0x80);
    out.push(n);
    return Buffer.from(out);
  };
  if (typeof value === 'number') {
    return Buffer.concat([varint(no << 3), varint(value)]);
  }
  const bytes = Buffer.from(value);
  return Buffer.concat([varint((no << 3) | 2), varint(bytes.length), bytes]);
}

/**
 * The training start for --train-socket: a stand-in supervisor (HTTP/2 on the socket, gRPC framing)
 * answers Hello with a no-op agent written next to the cache and keeps the Session open; when the
 * body reports Ready (a hook its entry takes and deletes), the cache is written and the process
 * ends. Runs as root with the supervisor's own files only: no agent package is involved.
 */
function train(socketPath, cacheFile) {
  const http2 = require('node:http2');
  const { rmSync } = require('node:fs');
  const agentFile = `${cacheFile}.warm-up.mjs`;
  writeFileSync(
    agentFile,
    'export default class WarmUp {\n' +
      "  [Symbol.for('everythingos.sdk.attach-runtime.v1')]() {\n" +
      "    return { start: async () => {}, stop: async () => {}, tick: async () => {}, health: async () => ({ status: 'healthy' }) };\n" +
      '  }\n}\n',
    { mode: 0o644 },
  );
  const cleanup = () => {
    rmSync(agentFile, { force: true });
    rmSync(socketPath, { force: true });
  };
  const hello = Buffer.concat([field(1, 'code-cache'), field(2, '{}'), field(3, agentFile), field(5, 3_600_000)]);
  const frame = Buffer.alloc(5 + hello.length);
  frame.writeUInt32BE(hello.length, 1);
  hello.copy(frame, 5);
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    stream.on('error', (err) => process.stderr.write(`code cache training: stream ${err.message}\n`));
    stream.resume();
    const path = String(headers[':path']);
    stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto' }, { waitForTrailers: !path.endsWith('/Session') });
    if (path.endsWith('/Hello')) {
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frame);
    } else if (!path.endsWith('/Session')) {
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '12' }));
      stream.end();
    }
  });
  globalThis[Symbol.for('eosd.agent-host.trained')] = () => {
    writeFileSync(cacheFile, script.createCachedData(), { mode: 0o644, flag: 'wx' });
    cleanup();
    realExit(0);
  };
  server.on('error', (err) => {
    process.stderr.write(`code cache training: ${err.message}\n`);
    cleanup();
    realExit(4);
  });
  rmSync(socketPath, { force: true });
  server.listen(socketPath, runBody);
}
