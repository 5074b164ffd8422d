/** How a hidden layer was encoded. */
export type EncodingKind = 'base64' | 'hex' | 'url' | 'unicode_tags';

/** A decoded layer of text found inside the input. */
export interface DecodedLayer {
  readonly kind: EncodingKind;
  readonly text: string;
}

const MIN_BASE64_CHARS = 16; // 12 decoded bytes: shorter runs are mostly ids and words
const MIN_HEX_CHARS = 16;
const MIN_URL_ESCAPES = 3;
const MIN_PRINTABLE_RATIO = 0.9;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function isBase64Char(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2f || c === 0x2d || c === 0x5f;
}

function isHexChar(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
}

function hexValue(c: number): number {
  if (c <= 0x39) {
    return c - 0x30;
  }
  return (c | 0x20) - 0x61 + 10;
}

/** Decodes bytes as strict UTF-8 and keeps it only if it reads as text. */
function asText(bytes: Uint8Array): string | undefined {
  let decoded: string;
  try {
    decoded = utf8.decode(bytes);
  } catch {
    return undefined; // not UTF-8: binary data (an image, a hash), not a hidden instruction
  }
  if (decoded.length === 0) {
    return undefined;
  }
  let printable = 0;
  for (let i = 0; i < decoded.length; i += 1) {
    const c = decoded.charCodeAt(i);
    if (c >= 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
      printable += 1;
    }
  }
  return printable / decoded.length >= MIN_PRINTABLE_RATIO ? decoded : undefined;
}

function hasLetters(text: string): boolean {
  let letters = 0;
  for (let i = 0; i < text.length && letters < 4; i += 1) {
    const c = text.charCodeAt(i) | 0x20;
    if (c >= 0x61 && c <= 0x7a) {
      letters += 1;
    }
  }
  return letters >= 4;
}

/**
 * Finds obviously encoded runs in `text` and decodes them: base64 (standard and URL-safe), hex
 * byte strings and percent-encoding. A run is kept only if it decodes to readable UTF-8. One
 * linear scan over maximal runs; each character belongs to at most one run per encoding.
 */
export function decodeLayers(text: string): DecodedLayer[] {
  const layers: DecodedLayer[] = [];
  let i = 0;
  while (i < text.length) {
    if (!isBase64Char(text.charCodeAt(i))) {
      i += 1;
      continue;
    }
    const start = i;
    let allHex = true;
    while (i < text.length && isBase64Char(text.charCodeAt(i))) {
      allHex &&= isHexChar(text.charCodeAt(i));
      i += 1;
    }
    const coreLength = i - start;
    let end = i;
    while (end < text.length && end - i < 2 && text.charCodeAt(end) === 0x3d) {
      end += 1;
    }
    i = end;
    const run = text.slice(start, end);
    if (allHex && coreLength >= MIN_HEX_CHARS && coreLength % 2 === 0) {
      const decoded = asText(Buffer.from(run, 'hex'));
      if (decoded !== undefined && hasLetters(decoded)) {
        layers.push({ kind: 'hex', text: decoded });
        continue;
      }
    }
    if (coreLength >= MIN_BASE64_CHARS && hasLetters(run)) {
      const decoded = asText(Buffer.from(run, run.includes('-') || run.includes('_') ? 'base64url' : 'base64'));
      if (decoded !== undefined && hasLetters(decoded)) {
        layers.push({ kind: 'base64', text: decoded });
      }
    }
  }
  const url = decodePercent(text);
  if (url !== undefined) {
    layers.push({ kind: 'url', text: url });
  }
  return layers;
}

/** Decodes `%XX` escapes (and `+` as space when escapes are present); undefined when too few. */
function decodePercent(text: string): string | undefined {
  let escapes = 0;
  for (let at = text.indexOf('%'); at >= 0 && escapes < MIN_URL_ESCAPES; at = text.indexOf('%', at + 1)) {
    if (isHexChar(text.charCodeAt(at + 1)) && isHexChar(text.charCodeAt(at + 2))) {
      escapes += 1;
    }
  }
  if (escapes < MIN_URL_ESCAPES) {
    return undefined;
  }
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c === 0x25 && isHexChar(text.charCodeAt(i + 1)) && isHexChar(text.charCodeAt(i + 2))) {
      bytes.push(hexValue(text.charCodeAt(i + 1)) * 16 + hexValue(text.charCodeAt(i + 2)));
      i += 2;
    } else if (c === 0x2b) {
      bytes.push(0x20);
    } else {
      const encoded = Buffer.from(text[i] ?? '', 'utf8');
      for (const b of encoded) {
        bytes.push(b);
      }
    }
  }
  return new TextDecoder('utf-8').decode(Uint8Array.from(bytes));
}
