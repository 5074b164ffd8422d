import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { z } from 'zod';
import { AGENT_ID, EosError, RISK_TIERS } from '@everythingos/proto';
import { EOSD_VERSION } from '../supervisor.js';
import { renderAgentPackage, type AgentTemplateInput } from './agent-template.js';

const NAME_MESSAGE = 'agent names are lowercase letters, digits and dashes, start with a letter, at most 63 long (e.g. "mail-triage")';
const DESCRIPTION_MESSAGE = 'the description needs at least 10 characters (at most 1000)';

const name = z
  .string()
  .regex(AGENT_ID, NAME_MESSAGE)
  .refine((n) => !n.endsWith('-') && !n.includes('--'), NAME_MESSAGE);
const description = z.string().trim().min(10, DESCRIPTION_MESSAGE).max(1000, DESCRIPTION_MESSAGE);
const tier = z.enum(RISK_TIERS, { message: 'the risk tier is one of: low, medium, high' });

/** Options of `eosd new`, after flags and prompts. */
const NewAgentOptionsSchema = z
  .strictObject({
    name,
    description,
    tier,
    /** Why the agent needs its tier; required for `high`. @defaultValue '' */
    riskJustification: z.string().trim().max(2000).default(''),
    /** Where the package directory `<name>/` is created. */
    parentDir: z.string().min(1),
    /** @defaultValue `^<eosd version>` (the SDK and eosd are released together) */
    sdkSpec: z.string().min(1).default(`^${EOSD_VERSION}`),
    /** @defaultValue `^<eosd version>` */
    supervisorSpec: z.string().min(1).default(`^${EOSD_VERSION}`),
  })
  .superRefine((o, ctx) => {
    if (o.tier === 'high' && o.riskJustification === '') {
      ctx.addIssue({ code: 'custom', path: ['riskJustification'], message: 'a high-tier agent needs a risk justification (--risk-justification)' });
    }
  });

/** What `eosd new` accepts, from flags or answers. */
export type NewAgentOptionsInput = z.input<typeof NewAgentOptionsSchema>;
/** Validated `eosd new` options. */
export type NewAgentOptions = z.output<typeof NewAgentOptionsSchema>;

/**
 * Validates `eosd new` options, reporting every problem at once.
 * @throws EosError `EOS_INVALID_ARGUMENT`.
 */
export function parseNewAgentOptions(raw: unknown): NewAgentOptions {
  const r = NewAgentOptionsSchema.safeParse(raw);
  if (!r.success) {
    throw new EosError('EOS_INVALID_ARGUMENT', `cannot create the agent package:\n${z.prettifyError(r.error)}`, { cause: r.error });
  }
  return r.data;
}

/** Asks one question and resolves with the answer (a line of text). */
export type Ask = (question: string) => Promise<string>;

/** How many times a prompt re-asks after an invalid answer before giving up. */
const MAX_ATTEMPTS = 3;

async function askUntilValid<T>(ask: Ask, question: string, schema: z.ZodType<T>, report: (msg: string) => void): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const r = schema.safeParse((await ask(question)).trim());
    if (r.success) {
      return r.data;
    }
    const msg = r.error.issues[0]?.message ?? 'invalid answer';
    if (attempt >= MAX_ATTEMPTS) {
      throw new EosError('EOS_INVALID_ARGUMENT', msg);
    }
    report(msg);
  }
}

/**
 * Fills the options a user did not pass as flags by asking (interactive terminals only).
 * @throws EosError `EOS_INVALID_ARGUMENT` after three invalid answers to one question.
 */
export async function promptMissing(
  given: Partial<NewAgentOptionsInput>,
  ask: Ask,
  report: (msg: string) => void,
): Promise<Partial<NewAgentOptionsInput>> {
  const out = { ...given };
  if (out.name === undefined) {
    out.name = await askUntilValid(ask, 'Agent name (e.g. mail-triage): ', name, report);
  }
  if (out.description === undefined) {
    out.description = await askUntilValid(ask, 'What does it do? (at least 10 characters): ', description, report);
  }
  if (out.tier === undefined) {
    out.tier = await askUntilValid(ask, 'Risk tier (low, medium, high) [low]: ', z.preprocess((v) => (v === '' ? 'low' : v), tier), report);
  }
  if (out.tier === 'high' && (out.riskJustification ?? '').trim() === '') {
    out.riskJustification = await askUntilValid(
      ask,
      'Why does it need the high tier? ',
      z.string().min(1, 'a high-tier agent needs a risk justification'),
      report,
    );
  }
  return out;
}

/** What `createAgentPackage` made. */
export interface CreatedAgentPackage {
  dir: string;
  files: string[];
}

/**
 * Writes a new agent package into `<parentDir>/<name>/`; refuses a directory that exists and is not empty.
 * @throws EosError `EOS_ALREADY_EXISTS`.
 */
export async function createAgentPackage(opts: NewAgentOptions): Promise<CreatedAgentPackage> {
  const dir = resolve(opts.parentDir, opts.name);
  let existing: string[] = [];
  try {
    existing = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw err;
    }
  }
  if (existing.length > 0) {
    throw new EosError('EOS_ALREADY_EXISTS', `${dir} exists and is not empty; choose another name or remove it`);
  }
  const input: AgentTemplateInput = {
    name: opts.name,
    description: opts.description,
    tier: opts.tier,
    riskJustification: opts.riskJustification,
    sdkSpec: opts.sdkSpec,
    supervisorSpec: opts.supervisorSpec,
  };
  const files = renderAgentPackage(input);
  for (const [rel, content] of files) {
    const file = join(dir, rel);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, content, { flag: 'wx' });
  }
  return { dir, files: [...files.keys()] };
}

/** `eosd new` options as they come from the command line: anything may be missing. */
export interface NewAgentArgs {
  name?: string | undefined;
  description?: string | undefined;
  tier?: string | undefined;
  riskJustification?: string | undefined;
  parentDir: string;
  sdkSpec?: string | undefined;
  supervisorSpec?: string | undefined;
}

/**
 * `eosd new`: takes the flags, asks for what is missing when `ask` is given (an interactive
 * terminal), validates everything and writes the package. Without `ask`, missing values are
 * errors that name their flags, so scripts and CI get a clear failure instead of a hanging prompt.
 * @throws EosError `EOS_INVALID_ARGUMENT`, `EOS_ALREADY_EXISTS`.
 */
export async function runNewAgent(args: NewAgentArgs, ask: Ask | undefined, report: (msg: string) => void): Promise<CreatedAgentPackage> {
  const given: Partial<NewAgentOptionsInput> = {};
  for (const [k, v] of Object.entries(args)) {
    if (v !== undefined) {
      (given as Record<string, unknown>)[k] = v;
    }
  }
  const filled = ask === undefined ? given : await promptMissing(given, ask, report);
  const missing = [
    filled.name === undefined ? '<name>' : undefined,
    filled.description === undefined ? '--description' : undefined,
    filled.tier === undefined ? '--tier' : undefined,
  ].filter((m) => m !== undefined);
  if (missing.length > 0) {
    throw new EosError('EOS_INVALID_ARGUMENT', `missing ${missing.join(', ')} (stdin is not a terminal, so eosd new does not ask)`);
  }
  return createAgentPackage(parseNewAgentOptions(filled));
}
