import canonicalizeModule from 'canonicalize';

// canonicalize ships a CommonJS function whose .d.ts declares an ES default export; under
// NodeNext the types see the module object, while the runtime default import is the function.
const serialize = canonicalizeModule as unknown as (input: unknown) => string | undefined;

/**
 * RFC 8785 (JCS) canonical JSON of `value`.
 * @throws TypeError when the value has no JSON form (undefined, a function, a symbol).
 */
export function canonicalJson(value: unknown): string {
  const out = serialize(value);
  if (out === undefined) {
    throw new TypeError('value has no canonical JSON form');
  }
  return out;
}
