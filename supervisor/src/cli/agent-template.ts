import type { RiskTier } from '@everythingos/proto';

/** What a new agent package is generated from; validated by `parseNewAgentOptions`. */
export interface AgentTemplateInput {
  /** Agent id, package name and directory name. */
  name: string;
  description: string;
  tier: RiskTier;
  /** Required (non-blank) for `high`. */
  riskJustification: string;
  /** Version range or spec of `@everythingos/sdk` in the generated package.json. */
  sdkSpec: string;
  /** Version range or spec of `@everythingos/supervisor` (devDependency: eosd for the tests). */
  supervisorSpec: string;
}

/** Versions of the tools the generated package builds and tests with (the ones this repo uses). */
const TOOL_VERSIONS = { typescript: '^5.9.3', vitest: '^4.1.12', '@types/node': '^20.19.43' } as const;

function pascalCase(id: string): string {
  return id
    .split('-')
    .filter((p) => p !== '')
    .map((p) => p[0]!.toUpperCase() + p.slice(1))
    .join('');
}

function titleCase(id: string): string {
  return id
    .split('-')
    .filter((p) => p !== '')
    .map((p) => p[0]!.toUpperCase() + p.slice(1))
    .join(' ');
}

function packageJson(t: AgentTemplateInput): string {
  const pkg = {
    name: t.name,
    version: '0.1.0',
    description: t.description,
    type: 'module',
    exports: { '.': './dist/index.js' },
    files: ['dist', '!dist/.tsbuildinfo'],
    engines: { node: '>=20.20.0' },
    scripts: {
      build: 'tsc -p tsconfig.json',
      test: 'tsc -p tsconfig.json && vitest run',
      start: 'eosd start --dev --config eosd.dev.json',
    },
    dependencies: { '@everythingos/sdk': t.sdkSpec },
    devDependencies: {
      '@everythingos/supervisor': t.supervisorSpec,
      '@types/node': TOOL_VERSIONS['@types/node'],
      typescript: TOOL_VERSIONS.typescript,
      vitest: TOOL_VERSIONS.vitest,
    },
    everythingos: {
      id: t.name,
      name: titleCase(t.name),
      version: '0.1.0',
      description: t.description,
      tier: t.tier,
      ...(t.riskJustification.trim() === '' ? {} : { riskJustification: t.riskJustification }),
      publish: [`${t.name}.out`],
      subscribe: [`${t.name}.in`],
      capabilities: ['eventbus:publish', 'eventbus:subscribe', 'state:read', 'state:write'],
      tickRateMs: 0,
    },
  };
  return `${JSON.stringify(pkg, null, 2)}\n`;
}

const TSCONFIG = `{
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "noUncheckedIndexedAccess": true,
    "noImplicitOverride": true,
    "verbatimModuleSyntax": true,
    "declaration": true,
    "sourceMap": true,
    "skipLibCheck": true,
    "types": ["node"],
    "rootDir": "src",
    "outDir": "dist"
  },
  "include": ["src"]
}
`;

function indexTs(t: AgentTemplateInput): string {
  const cls = `${pascalCase(t.name)}Agent`;
  return `import { Agent, type AgentEvent } from '@everythingos/sdk';

/** What arrives on \`${t.name}.in\`. */
export interface Input {
  text: string;
}

/** What this agent publishes on \`${t.name}.out\`. */
export interface Output {
  text: string;
  /** How many inputs this agent has handled, across restarts. */
  count: number;
}

/**
 * ${t.description.replace(/\*\//g, '* /')}
 *
 * Counts the inputs it receives on \`${t.name}.in\` (the count is kept in supervisor-owned state,
 * so it survives restarts) and answers each on \`${t.name}.out\`.
 */
export default class ${cls} extends Agent {
  protected override async onStart(): Promise<void> {
    await this.subscribe<Input>('${t.name}.in', (e) => this.#handle(e));
    this.log('info', 'started');
  }

  async #handle(e: AgentEvent<Input>): Promise<void> {
    const count = ((await this.getState<number>('count')) ?? 0) + 1;
    await this.setState('count', count);
    const out: Output = { text: e.payload.text, count };
    await this.emit('${t.name}.out', out);
  }
}
`;
}

function agentTest(t: AgentTemplateInput): string {
  return `import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAgentHarness, type AgentHarness } from '@everythingos/sdk/testing';
import type { Output } from '../src/index.js';

// The harness runs this package (build it first: \`npm test\` does) under a real eosd in dev mode.
const packageDir = fileURLToPath(new URL('..', import.meta.url));

describe('${t.name}', () => {
  let h: AgentHarness;
  beforeEach(async () => {
    h = await startAgentHarness({ packageDir });
  }, 60_000);
  afterEach(() => h.close(), 60_000);

  it('answers every input and counts them in its state', async () => {
    await h.emit('${t.name}.in', { text: 'hello' });
    const first = await h.nextEvent<Output>('${t.name}.out');
    expect(first.payload).toEqual({ text: 'hello', count: 1 });
    expect(first.source).toBe('${t.name}');

    await h.emit('${t.name}.in', { text: 'again' });
    expect((await h.nextEvent<Output>('${t.name}.out')).payload.count).toBe(2);
    expect(await h.getState('count')).toBe(2);
  }, 60_000);

  it('may not publish on channels its manifest does not declare', async () => {
    await expect(h.emit('${t.name}.out', { text: 'forged', count: 0 })).rejects.toMatchObject({
      code: 'EOS_PERMISSION_DENIED',
    });
  }, 60_000);
});
`;
}

function devConfig(t: AgentTemplateInput): string {
  return `${JSON.stringify({ dev: true, stateDir: '.eosd', metrics: { listen: null }, agents: [{ id: t.name, package: '.', tier: t.tier }] }, null, 2)}\n`;
}

function readme(t: AgentTemplateInput): string {
  return `# ${t.name}

${t.description}

An [EverythingOS](https://www.npmjs.com/package/@everythingos/supervisor) agent (risk tier \`${t.tier}\`).
It subscribes to \`${t.name}.in\`, counts the inputs in its supervisor-owned state and answers each
on \`${t.name}.out\`.

## Develop

\`\`\`sh
npm install
npm run build      # tsc → dist/
npm test           # builds, then runs test/ against a real eosd (dev mode, temp state dir)
npm start          # runs this agent under eosd --dev (state in ./.eosd; Ctrl-C stops it)
\`\`\`

## The manifest

\`package.json\` → \`everythingos\` is what eosd reads (as data; it never runs your code to learn it):
the id, the risk tier, and every channel the agent may \`publish\` (emit and act) and \`subscribe\` to.
A channel that is not declared is refused with \`EOS_PERMISSION_DENIED\`. Keep the manifest's
\`version\` equal to the package version.

## Run it in a daemon

Add it to the daemon config (\`eosd.yaml\`):

\`\`\`yaml
agents:
  - id: ${t.name}
    package: /path/to/${t.name}
    tier: ${t.tier}
\`\`\`
`;
}

const GITIGNORE = `node_modules/
dist/
.eosd/
`;

/**
 * Renders every file of a new agent package: relative path → content. Pure.
 * The package builds with `tsc`, and its vitest test runs it under eosd with `@everythingos/sdk/testing`.
 */
export function renderAgentPackage(t: AgentTemplateInput): Map<string, string> {
  return new Map([
    ['package.json', packageJson(t)],
    ['tsconfig.json', TSCONFIG],
    ['src/index.ts', indexTs(t)],
    ['test/agent.test.ts', agentTest(t)],
    ['eosd.dev.json', devConfig(t)],
    ['README.md', readme(t)],
    ['.gitignore', GITIGNORE],
  ]);
}
