import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { EosError } from '@everythingos/proto';
import { DaemonConfigSchema, MAX_SOCKET_PATH_BYTES, type DaemonConfig } from './schema.js';

/** Options from the command line that override the file. */
export interface ConfigOverrides {
  dev?: boolean;
  stateDir?: string;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) {
      deepFreeze(v);
    }
  }
  return value;
}

/**
 * Validates raw configuration data, applies overrides and derived defaults, resolves relative
 * paths against `baseDir`, and freezes the result.
 * @throws EosError `EOS_CONFIG_INVALID` listing every problem at once.
 */
export function parseConfig(raw: unknown, source: string, baseDir: string, overrides: ConfigOverrides = {}): DaemonConfig {
  const r = DaemonConfigSchema.safeParse(raw ?? {});
  if (!r.success) {
    throw new EosError('EOS_CONFIG_INVALID', `invalid config (${source}):\n${z.prettifyError(r.error)}`, {
      cause: r.error,
      details: { issues: r.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) },
    });
  }
  const c = r.data;
  const dev = overrides.dev ?? c.dev;
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  const stateDir = abs(overrides.stateDir ?? c.stateDir ?? (dev ? '.eosd' : '/var/lib/eosd'));
  const runDir = c.runDir !== undefined && overrides.stateDir === undefined ? abs(c.runDir) : dev ? resolve(stateDir, 'run') : abs(c.runDir ?? '/run/eosd');
  const longestId = c.agents.reduce((n, a) => Math.max(n, Buffer.byteLength(a.id)), 0);
  const socketBytes = Buffer.byteLength(`${runDir}/agents/`) + longestId + Buffer.byteLength('/agent.sock');
  if (socketBytes > MAX_SOCKET_PATH_BYTES) {
    throw new EosError(
      'EOS_CONFIG_INVALID',
      `invalid config (${source}): agent socket paths would be ${socketBytes} bytes; the limit is ${MAX_SOCKET_PATH_BYTES}; use a shorter runDir or shorter agent ids`,
    );
  }
  return deepFreeze({
    ...c,
    dev,
    stateDir,
    runDir,
    source,
    agents: c.agents.map((a) => ({ ...a, package: abs(a.package) })),
  });
}

/**
 * Reads a YAML or JSON config file (JSON is YAML) and validates it.
 * @throws EosError `EOS_CONFIG_INVALID` when it cannot be read, parsed or validated.
 */
export async function loadConfig(path: string, overrides: ConfigOverrides = {}): Promise<DaemonConfig> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new EosError('EOS_CONFIG_INVALID', `cannot read config ${file}: ${(err as Error).message}`, { cause: err });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (err) {
    throw new EosError('EOS_CONFIG_INVALID', `config ${file} is not valid YAML/JSON: ${(err as Error).message}`, { cause: err });
  }
  return parseConfig(raw, file, dirname(file), overrides);
}
