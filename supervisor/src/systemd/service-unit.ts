import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** The unit file shipped in the package (`systemd/eosd.service`). */
export const SERVICE_UNIT_TEMPLATE = fileURLToPath(new URL('../../systemd/eosd.service', import.meta.url));

/**
 * The unit with `ExecStart` running `command` (absolute path of the eosd binary, or of node
 * followed by the absolute path of `eosd.js`).
 */
export async function renderServiceUnit(command: string): Promise<string> {
  if (!command.startsWith('/')) {
    throw new TypeError('the ExecStart command must start with an absolute path');
  }
  return (await readFile(SERVICE_UNIT_TEMPLATE, 'utf8')).replace('@EXEC_START@', command);
}
