// The SDK's main entry as Node loads it in an agent process: the one-file ES module that
// scripts/bundle.mjs builds (run `pnpm build` first). Each check runs in a fresh `node`, resolving
// '@everythingos/sdk' by name (the package's self-reference) through its exports map.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const SDK_DIR = fileURLToPath(new URL('..', import.meta.url));
const PER_FILE_URL = pathToFileURL(`${SDK_DIR}dist/index.js`).href;

/** Runs an ES module script in a fresh node inside the SDK package; returns its stdout. */
async function node(script: string, flags: string[] = []): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [...flags, '--input-type=module', '-e', script], {
    cwd: SDK_DIR,
    encoding: 'utf8',
  });
  return stdout;
}

describe('@everythingos/sdk main entry', () => {
  it('resolves to one self-contained module: no import of another file, not even @everythingos/proto/core', async () => {
    const url = (await node("process.stdout.write(import.meta.resolve('@everythingos/sdk'))")).trim();
    expect(url).toMatch(/\/sdk\/dist\/bundle\/index\.js$/);
    const source = await readFile(fileURLToPath(url), 'utf8');
    expect(source).not.toMatch(/^\s*import[\s{*"']/m);
    expect(source).not.toMatch(/\bfrom\s*["']/);
    expect(source).not.toMatch(/\bimport\s*\(/);
    expect(source).toMatch(/\/\/# sourceMappingURL=index\.js\.map\s*$/);
    const pkg = JSON.parse(await readFile(`${SDK_DIR}package.json`, 'utf8')) as { sideEffects: unknown };
    expect(pkg.sideEffects).toBe(false);
  });

  it('exports what the per-file build exports, with the registered ATTACH_RUNTIME symbol agent-host looks for', async () => {
    const out = JSON.parse(
      await node(`
        const one = await import('@everythingos/sdk');
        const perFile = await import(${JSON.stringify(PER_FILE_URL)});
        const key = Symbol.for('everythingos.sdk.attach-runtime.v1');
        class A extends one.Agent {}
        process.stdout.write(JSON.stringify({
          one: Object.keys(one).sort(),
          perFile: Object.keys(perFile).sort(),
          sameSymbol: one.ATTACH_RUNTIME === key && perFile.ATTACH_RUNTIME === key,
          attachable: typeof new A()[key] === 'function',
        }));`),
    ) as { one: string[]; perFile: string[]; sameSymbol: boolean; attachable: boolean };
    expect(out.one).toEqual(['ATTACH_RUNTIME', 'Agent', 'EosError', 'isEosError']);
    expect(out.one).toEqual(out.perFile);
    expect(out.sameSymbol).toBe(true);
    expect(out.attachable).toBe(true);
  });

  it("keeps instanceof EosError true between its own copy and @everythingos/proto's", async () => {
    const out = JSON.parse(
      await node(`
        const sdk = await import('@everythingos/sdk');
        const proto = await import('@everythingos/proto/core');
        class A extends sdk.Agent {}
        let thrown;
        try { new A().id; } catch (err) { thrown = err; }
        const fromProto = new proto.EosError('EOS_NOT_FOUND', 'x');
        process.stdout.write(JSON.stringify({
          twoClasses: sdk.EosError !== proto.EosError,
          sdkErrIsProto: thrown instanceof proto.EosError,
          sdkErrIsSdk: thrown instanceof sdk.EosError,
          protoErrIsSdk: fromProto instanceof sdk.EosError,
          code: thrown.code,
          byCode: proto.isEosError(thrown, 'EOS_ILLEGAL_STATE') && sdk.isEosError(fromProto, 'EOS_NOT_FOUND'),
        }));`),
    ) as Record<string, unknown>;
    expect(out).toEqual({
      twoClasses: true,
      sdkErrIsProto: true,
      sdkErrIsSdk: true,
      protoErrIsSdk: true,
      code: 'EOS_ILLEGAL_STATE',
      byCode: true,
    });
  });

  it('maps stack traces back to sdk/src with --enable-source-maps', async () => {
    const script = `
      const { Agent } = await import('@everythingos/sdk');
      class A extends Agent {}
      try { new A().id; } catch (err) { process.stdout.write(err.stack); }`;
    const mapped = await node(script, ['--enable-source-maps']);
    expect(mapped).toMatch(/^EosError: the agent is not running yet/);
    expect(mapped).toMatch(/sdk\/src\/agent\.ts:\d+:\d+/);
    const plain = await node(script);
    expect(plain).toMatch(/sdk\/dist\/bundle\/index\.js:\d+:\d+/);
  });
});
