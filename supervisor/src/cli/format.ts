import type { controlV1 } from '@everythingos/proto';

/** `1h02m`, `3m04s`, `12s`; `-` for zero. */
export function formatUptime(ms: number): string {
  if (ms <= 0) {
    return '-';
  }
  const s = Math.floor(ms / 1000);
  if (s < 60) {
    return `${s}s`;
  }
  const m = Math.floor(s / 60);
  if (m < 60) {
    return `${m}m${String(s % 60).padStart(2, '0')}s`;
  }
  const h = Math.floor(m / 60);
  if (h < 48) {
    return `${h}h${String(m % 60).padStart(2, '0')}m`;
  }
  return `${Math.floor(h / 24)}d`;
}

/** `12.3 MiB`; `-` for zero. */
export function formatBytes(n: number): string {
  if (n <= 0) {
    return '-';
  }
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** Renders rows as an aligned plain-text table with a header. */
export function renderTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** The `eosd agents ls` table, pm2-style. */
export function renderAgentsTable(agents: controlV1.AgentInfo__Output[], nowMs: number): string {
  return renderTable(
    ['ID', 'NAME', 'TIER', 'STATE', 'PID', 'UID', 'UPTIME', '↺', 'MEM', 'LAST EXIT', 'VERSION', 'FROM'],
    agents.map((a) => [
      a.id,
      a.name,
      a.tier,
      a.state,
      a.pid === 0 ? '-' : String(a.pid),
      String(a.uid),
      formatUptime(a.startedAtMs === 0 ? 0 : nowMs - a.startedAtMs),
      String(a.restarts),
      formatBytes(a.memoryBytes),
      a.lastExit === '' ? '-' : a.lastExit,
      a.version,
      a.origin === '' ? '-' : a.origin,
    ]),
  );
}

/** The JSON form of an agent for `--json` output: stable keys, numbers as numbers. */
export function agentJson(a: controlV1.AgentInfo__Output): Record<string, unknown> {
  return {
    id: a.id,
    name: a.name,
    version: a.version,
    tier: a.tier,
    state: a.state,
    pid: a.pid,
    uid: a.uid,
    startedAtMs: a.startedAtMs,
    restarts: a.restarts,
    memoryBytes: a.memoryBytes,
    lastExit: a.lastExit,
    restart: a.restart,
    packageDir: a.packageDir,
    origin: a.origin,
    integrity: a.integrity,
    packageName: a.packageName,
  };
}
