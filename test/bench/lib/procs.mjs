// Process helpers: spawn with collected output, wait for exit, read PSS of a process tree.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdir, readFile } from 'node:fs/promises';
import { clearTimeout, setTimeout } from 'node:timers';

/** Resolves after `ms`. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Spawns a process whose stdout is NDJSON; `lines` collects parsed lines, `waitFor(pred)` waits
 * for one. `kill()` ends it and awaits the exit.
 */
export function spawnNdjson(file, args, opts = {}) {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  const lines = [];
  let raw = '';
  let buf = '';
  const waiters = new Set();
  child.stdout.setEncoding('utf8').on('data', (chunk) => {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      raw = (raw + line + '\n').slice(-20_000);
      try {
        lines.push(JSON.parse(line));
      } catch {
        lines.push({ raw: line });
      }
    }
    for (const w of waiters) {
      w();
    }
  });
  child.stderr.setEncoding('utf8').on('data', (c) => {
    raw = (raw + c).slice(-20_000);
  });
  const exited = once(child, 'exit');
  let from = 0;
  return {
    child,
    lines,
    get output() {
      return raw;
    },
    /** Forget lines seen so far for the next `waitFor` (they stay in `lines`). */
    mark() {
      from = lines.length;
    },
    waitFor(pred, timeoutMs = 60_000, what = 'a line') {
      return new Promise((resolve, reject) => {
        const check = () => {
          for (let i = from; i < lines.length; i++) {
            if (pred(lines[i])) {
              waiters.delete(check);
              clearTimeout(timer);
              resolve(lines[i]);
              return;
            }
          }
          if (child.exitCode !== null || child.signalCode !== null) {
            waiters.delete(check);
            clearTimeout(timer);
            reject(new Error(`process exited while waiting for ${what}\n${raw.slice(-4000)}`));
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${raw.slice(-4000)}`));
        }, timeoutMs);
        waiters.add(check);
        child.once('exit', check);
        check();
      });
    },
    async kill(signal = 'SIGTERM', graceMs = 10_000) {
      if (child.exitCode !== null || child.signalCode !== null) {
        return;
      }
      child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Pids of `pid` and all its descendants, from /proc. */
export async function processTree(pid) {
  const parents = new Map();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) {
      continue;
    }
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = parents.get(ppid) ?? [];
      list.push(Number(name));
      parents.set(ppid, list);
    } catch {
      // The process ended between readdir and readFile: it is not part of the tree any more.
      continue;
    }
  }
  const out = [];
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop();
    out.push(p);
    stack.push(...(parents.get(p) ?? []));
  }
  return out;
}

/** Proportional set size of one process, bytes (from smaps_rollup). */
export async function pssBytes(pid) {
  const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
  const m = /^Pss:\s+(\d+) kB/m.exec(text);
  return m ? Number(m[1]) * 1024 : 0;
}

/** PSS summed over a process and its descendants, bytes. */
export async function treePssBytes(pid) {
  let total = 0;
  for (const p of await processTree(pid)) {
    try {
      total += await pssBytes(p);
    } catch {
      // A child that exited meanwhile has no memory left to count.
      continue;
    }
  }
  return total;
}
