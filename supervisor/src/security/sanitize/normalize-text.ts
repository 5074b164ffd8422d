/** Result of {@link normalizeText}. */
export interface NormalizedText {
  /** NFKC text without invisible/bidi/control characters, whitespace collapsed. */
  readonly text: string;
  /** Number of invisible, bidi-control, tag or other control code points removed. */
  readonly invisibleRemoved: number;
  /**
   * ASCII smuggled in Unicode tag characters (U+E0020..U+E007E), decoded; empty when none. Tag
   * characters render as nothing but some models read them, so the hidden text is analysed too.
   */
  readonly smuggledTagText: string;
}

function isInvisible(cp: number): boolean {
  return (
    cp === 0x00ad || // soft hyphen
    cp === 0x034f || // combining grapheme joiner
    cp === 0x061c || // Arabic letter mark (bidi)
    cp === 0x115f || cp === 0x1160 || cp === 0x3164 || cp === 0xffa0 || // Hangul fillers
    cp === 0x17b4 || cp === 0x17b5 ||
    cp === 0x180e || // Mongolian vowel separator
    (cp >= 0x200b && cp <= 0x200f) || // ZWSP, ZWNJ, ZWJ, LRM, RLM
    (cp >= 0x202a && cp <= 0x202e) || // bidi embeddings and overrides
    (cp >= 0x2060 && cp <= 0x206f) || // word joiner, invisible operators, bidi isolates, deprecated formats
    cp === 0xfeff || // BOM / ZWNBSP
    (cp >= 0xfe00 && cp <= 0xfe0f) || // variation selectors
    (cp >= 0xfff9 && cp <= 0xfffb) || // interlinear annotation
    (cp >= 0xe0000 && cp <= 0xe007f) || // tag characters
    (cp >= 0xe0100 && cp <= 0xe01ef) || // variation selectors supplement
    (cp < 0x20 && cp !== 0x09 && cp !== 0x0a && cp !== 0x0d) ||
    (cp >= 0x7f && cp <= 0x9f) // DEL and C1 controls
  );
}

function isHorizontalSpace(cp: number): boolean {
  return (
    cp === 0x20 || cp === 0x09 || cp === 0xa0 || cp === 0x1680 ||
    (cp >= 0x2000 && cp <= 0x200a) || cp === 0x202f || cp === 0x205f || cp === 0x3000
  );
}

function isLineBreak(cp: number): boolean {
  return cp === 0x0a || cp === 0x0d || cp === 0x0b || cp === 0x0c || cp === 0x85 || cp === 0x2028 || cp === 0x2029;
}

/**
 * Normalizes untrusted text for forwarding: Unicode NFKC; removes zero-width, bidi-control,
 * tag, variation-selector and other control characters; collapses each run of horizontal
 * whitespace to one space and each run of line breaks to at most one empty line, trimming spaces
 * at line ends. Line breaks are kept (collapsed, not removed) because they carry meaning for code,
 * lists and the detection of fake role labels at line starts. Linear in the input length.
 */
export function normalizeText(raw: string): NormalizedText {
  const nfkc = raw.normalize('NFKC');
  const out: string[] = [];
  const tags: string[] = [];
  let removed = 0;
  let pendingSpace = false;
  let pendingBreaks = 0;
  let atStart = true;
  let i = 0;
  while (i < nfkc.length) {
    const cp = nfkc.codePointAt(i) ?? 0;
    const width = cp > 0xffff ? 2 : 1;
    i += width;
    if (cp === 0x0d && nfkc.charCodeAt(i) === 0x0a) {
      continue; // CRLF counts once, via its LF
    }
    if (isLineBreak(cp)) {
      pendingBreaks += 1;
      pendingSpace = false;
      continue;
    }
    if (isHorizontalSpace(cp)) {
      pendingSpace = true;
      continue;
    }
    if (isInvisible(cp)) {
      removed += 1;
      if (cp >= 0xe0020 && cp <= 0xe007e) {
        tags.push(String.fromCharCode(cp - 0xe0000));
      }
      continue;
    }
    if (!atStart) {
      if (pendingBreaks > 0) {
        out.push(pendingBreaks > 1 ? '\n\n' : '\n');
      } else if (pendingSpace) {
        out.push(' ');
      }
    }
    pendingBreaks = 0;
    pendingSpace = false;
    atStart = false;
    out.push(width === 2 ? String.fromCodePoint(cp) : String.fromCharCode(cp));
  }
  return { text: out.join(''), invisibleRemoved: removed, smuggledTagText: tags.join('') };
}
