// The demo: runs eosd in dev mode with the two example agents (ping, heartbeat), prints what
// they say to each other, shows `eosd agents ls`, then stops the daemon cleanly.
// DEMO_SECONDS sets how long it runs (default 12).
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const eosd = join(root, 'supervisor', 'dist', 'bin', 'eosd.js');
const config = join(root, 'examples', 'eosd.demo.yaml');
const seconds = Number(process.env.DEMO_SECONDS ?? 12);
const dir = mkdtempSync('/tmp/eosd-demo-');
chmodSync(dir, 0o711); // agents run under their own uids when the demo runs as root
const stateDir = join(dir, 'state');

const t0 = Date.now();
const stamp = () => `${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s`;
const say = (who, text) => console.log(`${stamp()}  ${who.padEnd(10)} ${text}`);

const daemon = spawn(process.execPath, [eosd, 'start', '--dev', '--config', config, '--state-dir', stateDir], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
let buf = '';
daemon.stdout.setEncoding('utf8').on('data', (chunk) => {
  buf += chunk;
  let nl;
  while ((nl = buf.indexOf('\n')) !== -1) {
    const line = buf.slice(0, nl);
    buf = buf.slice(nl + 1);
    let l;
    try {
      l = JSON.parse(line);
    } catch {
      continue;
    }
    if (l.msg === 'supervisor ready') say('eosd', `ready: control socket ${l.controlSocket}`);
    else if (l.msg === 'agent state changed') say(l.agentId, `${l.from} -> ${l.to}`);
    else if (l.msg === 'agent process spawned') say(l.agentId, `spawned pid ${l.agentPid} as uid ${l.uid ?? process.getuid()}`);
    else if (l.component === 'agent') say(l.agentId, `${l.msg} ${JSON.stringify(l.agent)}`);
    else if (l.level >= 40) say(l.agentId ?? 'eosd', `${l.msg}${l.err ? `: ${l.err.message}` : ''}`);
  }
});

setTimeout(() => {
  console.log(`\n$ eosd agents ls --state-dir ${stateDir}`);
  console.log(execFileSync(process.execPath, [eosd, 'agents', 'ls', '--state-dir', stateDir], { encoding: 'utf8' }));
}, Math.min(4, seconds / 2) * 1000);

setTimeout(() => daemon.kill('SIGTERM'), seconds * 1000);
process.on('SIGINT', () => daemon.kill('SIGTERM'));
daemon.on('exit', (code) => {
  say('eosd', `exited with code ${code}`);
  rmSync(dir, { recursive: true, force: true });
  process.exit(code ?? 1);
});
