const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'component', 'agentId']);

/** One pino NDJSON line as a human line: `12:03:04.567 INFO  agent[ping] pong received n=3`. */
export function formatLogLine(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const t = typeof rec.time === 'number' ? new Date(rec.time).toISOString().slice(11, 23) : '';
  const level = (LEVEL_NAMES[typeof rec.level === 'number' ? rec.level : 30] ?? 'INFO').padEnd(5);
  const who = `${String(rec.component ?? '')}${typeof rec.agentId === 'string' ? `[${rec.agentId}]` : ''}`;
  const fields = Object.entries(rec)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${t} ${level} ${who} ${String(rec.msg ?? '')}${fields ? ` ${fields}` : ''}`;
}
