// Worker thread of session-frame.bench.mjs: a hostile agent client with its own event loop. Per
// request it says Hello (validly signed), opens a Session and builds one frame of `count` emits or
// acts whose MACs are random; on `go` it writes the frame and reports how the server answered.
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { parentPort, workerData } from 'node:worker_threads';

const supRequire = createRequire(new URL('../../../supervisor/package.json', import.meta.url));
const { credentials } = supRequire('@grpc/grpc-js');
const { computeCallMac, loadAgentProto, PROTOCOL_VERSION } = await import(new URL('../../../proto/dist/index.js', import.meta.url).href);

const { eos } = loadAgentProto();
const client = new eos.agent.v1.AgentService(`unix:${workerData.socketPath}`, credentials.createInsecure());
let nonce = 0;
let pending;

function hello(key) {
  const n = ++nonce;
  const ts = Date.now();
  const auth = { nonce: n, timestampMs: ts, mac: computeCallMac(key, 'Hello', '', n, ts) };
  return new Promise((resolve, reject) => client.hello({ auth, protocolVersion: PROTOCOL_VERSION, pid: process.pid }, (err) => (err ? reject(err) : resolve())));
}

function frameOf(kind, count) {
  const ts = Date.now();
  const body = Buffer.from(kind === 'acts' ? '{"payload":1}' : '1');
  const entries = [];
  for (let i = 0; i < count; i++) {
    entries.push({ auth: { nonce: ++nonce, timestampMs: ts, mac: randomBytes(32) }, channel: 'ok.out', priority: 'PRIORITY_NORMAL', body });
  }
  return kind === 'acts' ? { acts: { acts: entries } } : { emits: { emits: entries } };
}

parentPort.on('message', async (m) => {
  if (m.go) {
    pending.session.write(pending.frame);
    return;
  }
  await hello(Buffer.from(m.key));
  const session = client.session();
  const frame = frameOf(m.kind, m.count);
  let answered = 0;
  let settled = false;
  const finish = (outcome) => {
    if (settled) {
      return;
    }
    settled = true;
    session.cancel();
    // Let the server finish what it does after answering (audit appends) inside the measured span.
    setTimeout(() => parentPort.postMessage({ type: 'done', outcome }), 300);
  };
  session.on('data', (f) => {
    if (f.acks) {
      finish(`acked, ${f.acks.rejected.length} rejected (${f.acks.rejected[0]?.error?.code ?? '-'})`);
    } else if (f.actResults) {
      answered += f.actResults.results.length;
      if (answered >= m.count) {
        finish(`${answered} act results (${f.actResults.results[0]?.error?.code ?? 'OK'})`);
      }
    }
  });
  session.on('error', (err) => finish(`session ended: ${err.metadata?.get('eos-error-code')?.[0] ?? err.code}`));
  session.on('end', () => finish('session ended'));
  pending = { session, frame };
  parentPort.postMessage({ type: 'ready' });
});
