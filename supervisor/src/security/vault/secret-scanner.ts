import { AhoCorasick } from './aho-corasick.js';

/** The encoding a secret was found in. */
export type SecretForm =
  | 'raw'
  | 'base64'
  | 'base64url'
  | 'hex'
  | 'hex-upper'
  | 'url-encoded'
  | 'form-encoded'
  | 'percent-encoded'
  | 'percent-encoded-upper';

/** One occurrence of a vault secret. Never carries the secret itself. */
export interface SecretFinding {
  /** Vault name of the secret. */
  readonly name: string;
  readonly form: SecretForm;
  /** Byte offset of the match in the scanned bytes (UTF-8 bytes for strings). */
  readonly offset: number;
  /** Length in bytes. */
  readonly length: number;
}

/** Result of a redaction. */
export interface Redaction<T> {
  readonly output: T;
  /** Up to {@link MAX_FINDINGS} findings, in order of their end offset. */
  readonly findings: readonly SecretFinding[];
}

/** What replaces a secret. */
export const REDACTION_MARKER = '[REDACTED]';

/** Cap on findings reported per scan, so a hostile body cannot make the report unbounded. */
export const MAX_FINDINGS = 256;

const MARKER_BYTES = Buffer.from(REDACTION_MARKER, 'utf8');

interface Pattern {
  readonly name: string;
  readonly form: SecretForm;
}

/**
 * Base64 text that encodes the secret wherever it sits in a larger payload. For each of the three
 * byte alignments, encode `shift` filler bytes + secret and keep only the characters whose 6 bits
 * all come from the secret: chars [ceil(8·shift/6), floor(8·(shift+n)/6)). So `Basic
 * base64(user:secret)` is caught too, not only base64(secret) on its own.
 */
function base64Cores(secret: Buffer, alphabet: 'base64' | 'base64url'): string[] {
  const cores: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const encoded = Buffer.concat([Buffer.alloc(shift), secret]).toString(alphabet);
    const start = Math.ceil((8 * shift) / 6);
    const end = Math.floor((8 * (shift + secret.length)) / 6);
    cores.push(encoded.slice(start, end));
  }
  return cores;
}

function percentAll(secret: Buffer, upper: boolean): string {
  let out = '';
  for (const b of secret) {
    const h = b.toString(16).padStart(2, '0');
    out += `%${upper ? h.toUpperCase() : h}`;
  }
  return out;
}

function formsOf(secret: Buffer): [SecretForm, Buffer][] {
  const forms: [SecretForm, Buffer][] = [['raw', secret]];
  // Full encodings too, so a standalone value is redacted up to its padding, not just its core.
  forms.push(['base64', Buffer.from(secret.toString('base64'), 'latin1')]);
  forms.push(['base64url', Buffer.from(secret.toString('base64url'), 'latin1')]);
  for (const core of base64Cores(secret, 'base64')) {
    forms.push(['base64', Buffer.from(core, 'latin1')]);
  }
  for (const core of base64Cores(secret, 'base64url')) {
    forms.push(['base64url', Buffer.from(core, 'latin1')]);
  }
  forms.push(['hex', Buffer.from(secret.toString('hex'), 'latin1')]);
  forms.push(['hex-upper', Buffer.from(secret.toString('hex').toUpperCase(), 'latin1')]);
  const text = secret.toString('utf8');
  if (Buffer.from(text, 'utf8').equals(secret)) {
    const uri = encodeURIComponent(text);
    forms.push(['url-encoded', Buffer.from(uri, 'latin1')]);
    forms.push(['form-encoded', Buffer.from(uri.replaceAll('%20', '+'), 'latin1')]);
  }
  forms.push(['percent-encoded', Buffer.from(percentAll(secret, false), 'latin1')]);
  forms.push(['percent-encoded-upper', Buffer.from(percentAll(secret, true), 'latin1')]);
  return forms;
}

/**
 * Finds and redacts every vault secret in its raw, base64 (any alignment), base64url, hex (both
 * cases), URL-encoded, form-encoded and fully percent-encoded forms, by exact byte match. One
 * Aho–Corasick pass: linear in the input plus the number of matches.
 *
 * @example
 * const scanner = SecretScanner.create([['GITHUB_TOKEN', Buffer.from('ghp_x…')]]);
 * const { output, findings } = scanner.redactString(body);
 */
export class SecretScanner {
  readonly #automaton: AhoCorasick | null;
  readonly #patterns: readonly Pattern[];

  private constructor(automaton: AhoCorasick | null, patterns: readonly Pattern[]) {
    this.#automaton = automaton;
    this.#patterns = patterns;
  }

  /**
   * Build a scanner for these secrets (name, bytes). Identical encodings of different secrets are
   * kept once, under the first name.
   */
  static create(secrets: Iterable<readonly [string, Uint8Array]>): SecretScanner {
    const seen = new Set<string>();
    const bytes: Buffer[] = [];
    const patterns: Pattern[] = [];
    for (const [name, value] of secrets) {
      const secret = Buffer.from(value);
      if (secret.length === 0) {
        continue;
      }
      for (const [form, pattern] of formsOf(secret)) {
        const key = pattern.toString('latin1');
        if (pattern.length === 0 || seen.has(key)) {
          continue;
        }
        seen.add(key);
        bytes.push(pattern);
        patterns.push({ name, form });
      }
    }
    return new SecretScanner(bytes.length === 0 ? null : new AhoCorasick(bytes), patterns);
  }

  /** Number of distinct encoded patterns searched for. */
  get patternCount(): number {
    return this.#patterns.length;
  }

  #matches(input: Uint8Array): { spans: [number, number][]; findings: SecretFinding[] } {
    const spans: [number, number][] = [];
    const findings: SecretFinding[] = [];
    const automaton = this.#automaton;
    if (automaton === null) {
      return { spans, findings };
    }
    automaton.scan(input, (index, end) => {
      const length = automaton.patternLength(index);
      const start = end - length;
      // Spans arrive ordered by end; fold any that overlap or touch the previous ones.
      let s = start;
      let last = spans.at(-1);
      while (last !== undefined && last[1] >= s) {
        s = Math.min(s, last[0]);
        spans.pop();
        last = spans.at(-1);
      }
      spans.push([s, end]);
      if (findings.length < MAX_FINDINGS) {
        const p = this.#patterns[index] as Pattern;
        findings.push({ name: p.name, form: p.form, offset: start, length });
      }
      // The longest pattern ending here covers the shorter ones; only report them while under the cap.
      return findings.length < MAX_FINDINGS;
    });
    return { spans, findings };
  }

  /** Every secret occurrence in `input` (bytes, or a string as UTF-8). */
  scan(input: Uint8Array | string): readonly SecretFinding[] {
    const bytes = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
    return this.#matches(bytes).findings;
  }

  /** Whether `input` contains any secret in any form. */
  containsSecret(input: Uint8Array | string): boolean {
    return this.scan(input).length > 0;
  }

  /** Replace every secret occurrence in `input` with {@link REDACTION_MARKER}. */
  redactBytes(input: Uint8Array): Redaction<Buffer> {
    const { spans, findings } = this.#matches(input);
    const source = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    if (spans.length === 0) {
      return { output: Buffer.from(source), findings };
    }
    const parts: Buffer[] = [];
    let cursor = 0;
    for (const [start, end] of spans) {
      parts.push(source.subarray(cursor, start), MARKER_BYTES);
      cursor = end;
    }
    parts.push(source.subarray(cursor));
    return { output: Buffer.concat(parts), findings };
  }

  /** Replace every secret occurrence in `input` (scanned as UTF-8) with {@link REDACTION_MARKER}. */
  redactString(input: string): Redaction<string> {
    const bytes = Buffer.from(input, 'utf8');
    const { output, findings } = this.redactBytes(bytes);
    return { output: findings.length === 0 ? input : output.toString('utf8'), findings };
  }
}
