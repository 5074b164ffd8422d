// Shared set-up of the sandbox benches: the built supervisor's AgentSandbox and one agent `b` with its
// state directory, home (image) and uid, prepared as eosd prepares them. Needs root.
import { chmod, chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const dist = new URL('../../../supervisor/dist/', import.meta.url);

/** Imports a module of the built supervisor, e.g. `agent/agent-sandbox.js`. */
export function supervisorDist(path) {
  return import(new URL(path, dist).href);
}

/** Exits with a message unless running as root (the sandbox chain needs it). */
export function requireRoot() {
  if (process.getuid() !== 0) {
    process.stderr.write('run as root\n');
    process.exit(1);
  }
}

/**
 * A temp dir (`<prefix>XXXXXX` under /tmp) holding state dir `s` with agent `b`'s home (owned by
 * `uid`, 0700), a `sock` dir, and an AgentSandbox under cgroup parent `cgroupParent`. `close()`
 * closes the sandbox and removes the directory.
 */
export async function sandboxRig({ prefix, cgroupParent, uid, homeQuota = true }) {
  const { AgentSandbox } = await supervisorDist('agent/agent-sandbox.js');
  const { AgentSpecSchema } = await supervisorDist('config/schema.js');
  const { pino } = await import(createRequire(new URL('../../../supervisor/package.json', import.meta.url)).resolve('pino'));
  const dir = await mkdtemp(join('/tmp', prefix));
  await chmod(dir, 0o711);
  const logger = pino({ level: 'silent' });
  const state = join(dir, 's');
  const agentDir = join(state, 'agents', 'b');
  const home = join(agentDir, 'home');
  let sandbox;
  try {
    await mkdir(home, { recursive: true, mode: 0o711 });
    await mkdir(join(dir, 'sock'), { mode: 0o755 });
    await chmod(state, 0o711);
    sandbox = await AgentSandbox.create({ stateDir: state, config: { allowDegradedHighTier: false, homeQuota }, logger, cgroupParent });
    const spec = AgentSpecSchema.parse({ id: 'b', package: '.', tier: 'low' });
    await chmod(home, 0o700);
    await chown(home, uid, uid);
    const image = await sandbox.prepareHome(spec, agentDir, uid);
    return {
      dir,
      state,
      home,
      logger,
      sandbox,
      spec,
      image,
      async close() {
        await sandbox.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await sandbox?.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}
