import { describe, expect, it } from 'vitest';
import { parseManifest } from '@everythingos/proto';
import { renderAgentPackage } from '../src/cli/agent-template.js';
import { parseNewAgentOptions, promptMissing } from '../src/cli/new-agent.js';

const base = { name: 'mail-triage', description: 'Sorts incoming mail by urgency.', tier: 'low', parentDir: '/tmp' };

describe('eosd new options', () => {
  it('applies defaults and accepts a valid name', () => {
    expect(parseNewAgentOptions(base)).toMatchObject({ name: 'mail-triage', sdkSpec: '^0.1.0', supervisorSpec: '^0.1.0', riskJustification: '' });
  });

  it('reports every problem at once', () => {
    let err: unknown;
    try {
      parseNewAgentOptions({ ...base, name: 'Mail_Triage', description: 'short', tier: 'extreme' });
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'EOS_INVALID_ARGUMENT' });
    expect((err as Error).message).toMatch(/at name[\s\S]*at description[\s\S]*at tier/);
  });

  it.each(['9lives', 'a-', 'a--b', 'x'.repeat(64), '../evil', 'UPPER'])('rejects the name %s', (name) => {
    expect(() => parseNewAgentOptions({ ...base, name })).toThrow(expect.objectContaining({ code: 'EOS_INVALID_ARGUMENT' }));
  });

  it('requires a risk justification for the high tier', () => {
    expect(() => parseNewAgentOptions({ ...base, tier: 'high' })).toThrow(/risk justification/);
    expect(parseNewAgentOptions({ ...base, tier: 'high', riskJustification: 'It opens the garage door.' }).tier).toBe('high');
  });
});

describe('eosd new prompts', () => {
  it('asks only for what is missing and re-asks after an invalid answer', async () => {
    const answers = ['too short', 'Summarises the news every morning.', '', ];
    const asked: string[] = [];
    const reported: string[] = [];
    const filled = await promptMissing(
      { name: 'news' },
      async (q) => {
        asked.push(q);
        return answers.shift() ?? '';
      },
      (m) => reported.push(m),
    );
    expect(filled).toEqual({ name: 'news', description: 'Summarises the news every morning.', tier: 'low' });
    expect(asked).toHaveLength(3);
    expect(reported).toEqual(['the description needs at least 10 characters (at most 1000)']);
  });

  it('asks for a justification when the chosen tier is high, and gives up after three bad answers', async () => {
    const filled = await promptMissing({ name: 'door', description: 'Opens the garage door.' }, async (q) => (q.startsWith('Risk') ? 'high' : 'It moves a real door.'), () => {});
    expect(filled).toMatchObject({ tier: 'high', riskJustification: 'It moves a real door.' });
    await expect(promptMissing({ name: 'door', description: 'Opens the garage door.' }, async () => 'nope', () => {})).rejects.toMatchObject({
      code: 'EOS_INVALID_ARGUMENT',
    });
  });
});

describe('agent package template', () => {
  it('renders a package whose manifest eosd accepts, with the given dependency specs', () => {
    const files = renderAgentPackage({
      name: 'door',
      description: 'Opens the garage door.',
      tier: 'high',
      riskJustification: 'It moves a real door.',
      sdkSpec: 'file:../sdk.tgz',
      supervisorSpec: '^0.1.0',
    });
    expect([...files.keys()].sort()).toEqual(['.gitignore', 'README.md', 'eosd.dev.json', 'package.json', 'src/index.ts', 'test/agent.test.ts', 'tsconfig.json']);
    const pkg = JSON.parse(files.get('package.json')!) as { version: string; everythingos: unknown; dependencies: Record<string, string> };
    const manifest = parseManifest(pkg.everythingos, 'package.json');
    expect(manifest).toMatchObject({ id: 'door', tier: 'high', version: pkg.version, publish: ['door.out'], subscribe: ['door.in'] });
    expect(pkg.dependencies).toEqual({ '@everythingos/sdk': 'file:../sdk.tgz' });
    expect(files.get('src/index.ts')).toContain('export default class DoorAgent extends Agent');
  });
});
