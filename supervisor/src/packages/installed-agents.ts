import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { AGENT_ID, EosError, RISK_TIERS } from '@everythingos/proto';
import { AgentSpecSchema, type AgentSpec } from '../config/schema.js';
import { writeFileAtomic } from '../state/atomic-write.js';

/** SRI form of a sha512 digest, as npm writes it in `integrity`: "sha512-" + 64 bytes in base64. */
export const SRI_SHA512 = /^sha512-[A-Za-z0-9+/]{86}==$/;

/** One agent installed with `eosd agents add`, as persisted. */
const InstalledAgentSchema = z.strictObject({
  id: z.string().regex(AGENT_ID),
  /** package.json `name`. */
  packageName: z.string().min(1),
  /** package.json `version` (equal to the manifest's). */
  version: z.string().min(1),
  /** SRI sha512 of the tarball installed (`<stateDir>/packages/<id>/package.tgz`). */
  integrity: z.string().regex(SRI_SHA512),
  /** What the operator named: a path or an npm spec, for humans. */
  source: z.string().max(1_000),
  /** ms since the epoch. */
  installedAtMs: z.number().int().nonnegative(),
  tier: z.enum(RISK_TIERS),
  /** Start with the daemon (and at install time). */
  autostart: z.boolean(),
  restart: AgentSpecSchema.shape.restart.unwrap(),
});

const InstalledFileSchema = z.strictObject({
  v: z.literal(1),
  agents: z.array(InstalledAgentSchema),
});

/** A persisted installed agent. */
export type InstalledAgent = z.output<typeof InstalledAgentSchema>;

/** Where `eosd agents add` keeps what it installed. */
export interface PackageLayout {
  /** `<stateDir>/packages`: one directory per installed agent. */
  root: string;
  /** `<stateDir>/packages/<id>`: the install root (dependencies in `node_modules`, the tarball). */
  installDir(id: string): string;
  /** `<stateDir>/packages/<id>/package`: the agent package as extracted from the tarball. */
  packageDir(id: string): string;
}

/** The package layout under a state directory. */
export function packageLayout(stateDir: string): PackageLayout {
  const root = join(stateDir, 'packages');
  return { root, installDir: (id) => join(root, id), packageDir: (id) => join(root, id, 'package') };
}

/**
 * The registry of installed agents: `<stateDir>/installed-agents.json` (0600), replaced atomically
 * on every change. The daemon is its only writer.
 */
export class InstalledAgents {
  readonly #file: string;
  readonly #layout: PackageLayout;
  #agents: InstalledAgent[];

  private constructor(file: string, layout: PackageLayout, agents: InstalledAgent[]) {
    this.#file = file;
    this.#layout = layout;
    this.#agents = agents;
  }

  /**
   * Reads the registry (none yet = empty).
   * @throws EosError `EOS_CONFIG_INVALID` when the file is unreadable or invalid.
   */
  static async open(stateDir: string): Promise<InstalledAgents> {
    const file = join(stateDir, 'installed-agents.json');
    let text: string | undefined;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new EosError('EOS_CONFIG_INVALID', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
      }
    }
    if (text === undefined) {
      return new InstalledAgents(file, packageLayout(stateDir), []);
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new EosError('EOS_CONFIG_INVALID', `${file} is not JSON: ${(err as Error).message}`, { cause: err });
    }
    const r = InstalledFileSchema.safeParse(raw);
    if (!r.success) {
      throw new EosError('EOS_CONFIG_INVALID', `invalid ${file}:\n${z.prettifyError(r.error)}`, { cause: r.error });
    }
    return new InstalledAgents(file, packageLayout(stateDir), r.data.agents);
  }

  get layout(): PackageLayout {
    return this.#layout;
  }

  list(): readonly InstalledAgent[] {
    return this.#agents;
  }

  get(id: string): InstalledAgent | undefined {
    return this.#agents.find((a) => a.id === id);
  }

  /** Agent specs of the installed agents (config defaults for everything the record does not say). */
  specs(): AgentSpec[] {
    return this.#agents.map((a) => specOf(a, this.#layout.packageDir(a.id)));
  }

  /** Records an installed agent (durably). */
  async add(agent: InstalledAgent): Promise<void> {
    await this.#write([...this.#agents.filter((a) => a.id !== agent.id), agent]);
  }

  /** Forgets an installed agent (durably). */
  async remove(id: string): Promise<void> {
    await this.#write(this.#agents.filter((a) => a.id !== id));
  }

  async #write(agents: InstalledAgent[]): Promise<void> {
    const sorted = [...agents].sort((a, b) => a.id.localeCompare(b.id));
    await writeFileAtomic(this.#file, `${JSON.stringify({ v: 1, agents: sorted }, null, 2)}\n`);
    this.#agents = sorted;
  }
}

/** The agent spec of an installed agent. */
export function specOf(a: Pick<InstalledAgent, 'id' | 'tier' | 'autostart'> & { restart?: InstalledAgent['restart'] }, packageDir: string): AgentSpec {
  return AgentSpecSchema.parse({ id: a.id, package: packageDir, tier: a.tier, autostart: a.autostart, restart: a.restart });
}
