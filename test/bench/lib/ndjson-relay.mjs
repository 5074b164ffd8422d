// The in-run baseline of P1/P2: a raw NDJSON relay over Unix sockets, A -> relay process -> B,
// with the same protocol as the bench-sender/bench-receiver agents but no gRPC, no auth, no ACL,
// no rate limits and no queues. Every hop parses each line as JSON, as a router must.
// With batch 1 (the baseline) every event is one write() on every hop, as an event-at-a-time
// producer and router do; with batch > 1 the sender writes `batch` events per write() and the
// relay forwards what one read brought in one write() (the ceiling of a batching NDJSON relay).
//   node ndjson-relay.mjs relay <socket> <batch>
//   node ndjson-relay.mjs sender <socket> <batch>
//   node ndjson-relay.mjs receiver <socket> <paramsJson>
import { connect, createServer } from 'node:net';

const [, , role, socketPath, paramsJson] = process.argv;
const nowNs = () => Number(process.hrtime.bigint());
const BATCH = role === 'receiver' ? 1 : Math.max(1, Number(paramsJson ?? 1));
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);

/** Calls `onLine(obj)` for every NDJSON line of `socket`. */
function readLines(socket, onLine) {
  let buf = '';
  socket.setEncoding('utf8').on('data', (chunk) => {
    buf += chunk;
    let start = 0;
    let nl;
    while ((nl = buf.indexOf('\n', start)) !== -1) {
      onLine(JSON.parse(buf.slice(start, nl)));
      start = nl + 1;
    }
    buf = buf.slice(start);
  });
}

if (role === 'relay') {
  const peers = {};
  const backlog = { a: '', b: '' };
  const server = createServer((socket) => {
    let me;
    let pending = '';
    readLines(socket, (msg) => {
      if (me === undefined) {
        me = msg.role;
        peers[me] = socket;
        if (backlog[me] !== '') {
          socket.write(backlog[me]);
          backlog[me] = '';
        }
        return;
      }
      const line = `${JSON.stringify(msg)}\n`;
      if (BATCH === 1) {
        forward(line);
      } else {
        pending += line;
      }
    });
    const forward = (text) => {
      const other = me === 'a' ? 'b' : 'a';
      if (peers[other] === undefined) {
        backlog[other] += text;
      } else {
        peers[other].write(text);
      }
    };
    // Forward what one read produced in one write, after all its lines were parsed.
    socket.on('data', () => {
      if (pending !== '') {
        forward(pending);
        pending = '';
      }
    });
    socket.on('error', () => socket.destroy());
  });
  server.listen(socketPath, () => out({ msg: 'listening' }));
  process.on('SIGTERM', () => process.exit(0));
} else if (role === 'sender') {
  const socket = connect(socketPath, () => {
    socket.write(`${JSON.stringify({ role: 'a' })}\n${JSON.stringify({ hello: true })}\n`);
  });
  readLines(socket, (ctl) => {
    if (ctl.op === 'ping') {
      socket.write(`${JSON.stringify({ ping: ctl.k, t: nowNs() })}\n`);
    } else if (ctl.op === 'burst') {
      const t0 = nowNs();
      let chunk = '';
      for (let i = 0; i < ctl.count; i++) {
        chunk += `${JSON.stringify({ i })}\n`;
        if ((i + 1) % BATCH === 0) {
          socket.write(chunk);
          chunk = '';
        }
      }
      socket.write(`${chunk}${JSON.stringify({ end: true, round: ctl.round, t0, count: ctl.count })}\n`);
    }
  });
  socket.on('close', () => process.exit(0));
  socket.on('error', () => process.exit(0));
} else if (role === 'receiver') {
  const params = JSON.parse(paramsJson);
  let round = 0;
  let received = 0;
  const pings = [];
  const socket = connect(socketPath, () => socket.write(`${JSON.stringify({ role: 'b' })}\n`));
  const ctl = (o) => socket.write(`${JSON.stringify(o)}\n`);
  const nextPing = () => {
    const k = pings.length;
    if (k < params.pings + params.warmupPings) {
      ctl({ op: 'ping', k });
    } else {
      out({ msg: 'bench latency', us: pings.slice(params.warmupPings) });
      socket.end();
    }
  };
  const nextRound = () => {
    if (round < params.rounds) {
      round++;
      received = 0;
      ctl({ op: 'burst', round, count: params.count });
    } else {
      nextPing();
    }
  };
  readLines(socket, (p) => {
    if (p.i !== undefined) {
      received++;
    } else if (p.end === true) {
      out({ msg: 'bench burst', round: p.round, sent: p.count, received, ns: nowNs() - p.t0 });
      nextRound();
    } else if (p.ping !== undefined) {
      pings.push((nowNs() - p.t) / 1000);
      nextPing();
    } else if (p.hello === true) {
      nextRound();
    }
  });
  socket.on('close', () => process.exit(0));
} else {
  process.stderr.write(`unknown role ${role}\n`);
  process.exit(2);
}
