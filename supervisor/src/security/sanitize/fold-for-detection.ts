/**
 * Latin look-alikes that NFKC leaves alone (NFKC folds compatibility forms such as fullwidth and
 * mathematical letters, but not cross-script confusables). The set covers the Cyrillic and Greek
 * letters that render like ASCII in common fonts plus the Turkish dotless/dotted i, after
 * Unicode TR39 `confusables.txt` (single-code-point targets only).
 */
const CONFUSABLE_PAIRS: readonly (readonly [string, string])[] = [
  // Cyrillic lower case
  ['а', 'a'], ['в', 'b'], ['е', 'e'], ['ё', 'e'], ['з', '3'], ['к', 'k'], ['м', 'm'], ['н', 'h'],
  ['о', 'o'], ['р', 'p'], ['с', 'c'], ['т', 't'], ['у', 'y'], ['х', 'x'], ['ѕ', 's'], ['і', 'i'],
  ['ї', 'i'], ['ј', 'j'], ['һ', 'h'], ['ԁ', 'd'], ['ԛ', 'q'], ['ԝ', 'w'], ['ɡ', 'g'], ['ӏ', 'l'],
  ['ь', 'b'], ['п', 'n'], ['г', 'r'], ['ү', 'y'],
  // Cyrillic upper case
  ['А', 'A'], ['В', 'B'], ['Е', 'E'], ['Ё', 'E'], ['З', '3'], ['К', 'K'], ['М', 'M'], ['Н', 'H'],
  ['О', 'O'], ['Р', 'P'], ['С', 'C'], ['Т', 'T'], ['У', 'Y'], ['Х', 'X'], ['Ѕ', 'S'], ['І', 'I'],
  ['Ї', 'I'], ['Ј', 'J'], ['Һ', 'H'], ['Ԁ', 'D'], ['Ԛ', 'Q'], ['Ԝ', 'W'], ['Ӏ', 'I'],
  // Greek lower case
  ['α', 'a'], ['β', 'b'], ['γ', 'y'], ['ε', 'e'], ['ι', 'i'], ['κ', 'k'], ['ν', 'v'], ['ο', 'o'],
  ['ρ', 'p'], ['τ', 't'], ['υ', 'u'], ['χ', 'x'], ['ω', 'w'], ['ϲ', 'c'], ['ϳ', 'j'],
  // Greek upper case
  ['Α', 'A'], ['Β', 'B'], ['Ε', 'E'], ['Ζ', 'Z'], ['Η', 'H'], ['Ι', 'I'], ['Κ', 'K'], ['Μ', 'M'],
  ['Ν', 'N'], ['Ο', 'O'], ['Ρ', 'P'], ['Τ', 'T'], ['Υ', 'Y'], ['Χ', 'X'], ['Ϲ', 'C'],
  // Latin oddities
  ['ı', 'i'], ['ȷ', 'j'], ['ſ', 's'], ['ß', 's'], ['ł', 'l'], ['Ł', 'L'], ['ø', 'o'], ['Ø', 'O'],
  ['đ', 'd'], ['Đ', 'D'], ['ħ', 'h'], ['ɑ', 'a'], ['ɩ', 'i'], ['ǀ', 'l'],
];

const CONFUSABLES: ReadonlyMap<number, string> = new Map(
  CONFUSABLE_PAIRS.map(([from, to]) => [from.codePointAt(0) ?? 0, to]),
);

/** Result of {@link foldForDetection}. */
export interface FoldedText {
  /** ASCII-leaning text: confusables folded, diacritics removed, case and line breaks kept. */
  readonly text: string;
  /** How many confusable code points were replaced (a signal for audit, not a verdict). */
  readonly confusablesFolded: number;
}

/**
 * Builds the detection view of already-normalized text: NFKD, drop combining marks (so `İ`, `é`
 * and `ü` compare as `i`, `e`, `u`), fold cross-script confusables; case is kept (callers lower-case per token). The view is used
 * only for matching; it is never forwarded. Linear in the input length.
 */
export function foldForDetection(normalized: string): FoldedText {
  const decomposed = normalized.normalize('NFKD');
  const parts: string[] = [];
  let folded = 0;
  let runStart = 0;
  let i = 0;
  while (i < decomposed.length) {
    const cp = decomposed.codePointAt(i) ?? 0;
    const width = cp > 0xffff ? 2 : 1;
    const isMark = (cp >= 0x0300 && cp <= 0x036f) || (cp >= 0x1ab0 && cp <= 0x1aff) || (cp >= 0x20d0 && cp <= 0x20ff);
    const replacement = isMark ? '' : CONFUSABLES.get(cp);
    if (replacement !== undefined) {
      if (i > runStart) {
        parts.push(decomposed.slice(runStart, i));
      }
      parts.push(replacement);
      if (!isMark) {
        folded += 1;
      }
      runStart = i + width;
    }
    i += width;
  }
  if (runStart < decomposed.length) {
    parts.push(decomposed.slice(runStart));
  }
  return { text: parts.join(''), confusablesFolded: folded };
}
