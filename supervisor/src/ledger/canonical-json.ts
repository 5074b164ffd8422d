/**
 * RFC 8785 (JCS) serialisation of JSON data: object keys sorted by UTF-16 code units, no
 * whitespace, strings and numbers as ECMAScript JSON.stringify writes them (which is what JCS
 * specifies). Only plain JSON data is accepted; anything else throws a TypeError.
 */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) {
        throw new TypeError('JCS cannot represent a non-finite number');
      }
      return JSON.stringify(value);
    case 'object': {
      if (value === null) {
        return 'null';
      }
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          out += (i === 0 ? '' : ',') + canonicalJson(value[i]);
        }
        return `${out}]`;
      }
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj);
      // Most payloads are built with their keys in order already: sort only when they are not.
      // `<` on strings and the default sort both compare UTF-16 code units, as JCS requires.
      for (let i = 1; i < keys.length; i++) {
        if (!((keys[i - 1] as string) < (keys[i] as string))) {
          keys.sort();
          break;
        }
      }
      let out = '{';
      let first = true;
      for (const k of keys) {
        const v = obj[k];
        if (v === undefined) {
          continue;
        }
        out += `${first ? '' : ','}${JSON.stringify(k)}:${canonicalJson(v)}`;
        first = false;
      }
      return `${out}}`;
    }
    default:
      throw new TypeError(`JCS cannot represent a ${typeof value}`);
  }
}
