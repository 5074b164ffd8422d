/** Level names and pino's numeric levels, so the supervisor re-emits agent-host lines faithfully. */
const LEVELS = { debug: 20, info: 30, warn: 40, error: 50, fatal: 60 } as const;
export type HostLogLevel = keyof typeof LEVELS;

export type HostLogger = (level: HostLogLevel, fields: Record<string, unknown>, msg: string) => void;

/**
 * NDJSON lines in pino's shape on the given stream (stdout of agent-host, read by the supervisor).
 * agent-host carries no pino: it starts inside every agent, so it stays small.
 */
export function createHostLogger(write: (line: string) => void, agentId: string | undefined): HostLogger {
  return (level, fields, msg) => {
    const err = fields.err instanceof Error ? { type: fields.err.name, message: fields.err.message, stack: fields.err.stack, code: (fields.err as { code?: unknown }).code } : fields.err;
    write(`${JSON.stringify({ level: LEVELS[level], time: Date.now(), component: 'agent-host', agentId, ...fields, err, msg })}\n`);
  };
}
