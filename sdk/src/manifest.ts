/**
 * @module @everythingos/sdk/manifest
 *
 * The agent manifest schema (zod) and its parser, for tools and tests that check an agent
 * package's `everythingos` field before publishing. Not part of the main entry: agents do not
 * need it at run time, and loading zod costs more than the rest of an agent's start.
 *
 * ```ts
 * import { parseManifest } from '@everythingos/sdk/manifest';
 * parseManifest(pkg.everythingos, 'package.json'); // throws EosError EOS_MANIFEST_INVALID listing every problem
 * ```
 */
export { AgentManifestSchema, parseManifest } from '@everythingos/proto/manifest';
export type { AgentManifest, AgentManifestInput } from '@everythingos/proto/manifest';
