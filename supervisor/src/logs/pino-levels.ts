/** pino's numeric levels to logger method names, for re-emitting a child process's NDJSON lines. */
export const PINO_LEVEL_METHODS: Readonly<Record<number, 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal'>> = {
  10: 'trace',
  20: 'debug',
  30: 'info',
  40: 'warn',
  50: 'error',
  60: 'fatal',
};
