import ipaddr from 'ipaddr.js';

/** Kinds of personal data and secrets {@link scrubPii} redacts. Stable: they appear in results. */
export type PiiCategory = 'email' | 'credit_card' | 'ssn' | 'phone' | 'ip_address' | 'api_key' | 'iban';

/** Result of {@link scrubPii}. */
export interface PiiScrubResult {
  /** `text` with every finding replaced by its placeholder, e.g. `[EMAIL_REDACTED]`. */
  readonly scrubbed: string;
  /** Number of replaced spans. */
  readonly piiInstancesFound: number;
  /** Categories found, in a stable order. */
  readonly piiCategories: PiiCategory[];
}

const CATEGORY_ORDER: readonly PiiCategory[] = ['email', 'credit_card', 'ssn', 'phone', 'ip_address', 'api_key', 'iban'];
const PLACEHOLDER: Readonly<Record<PiiCategory, string>> = {
  email: '[EMAIL_REDACTED]',
  credit_card: '[CARD_REDACTED]',
  ssn: '[SSN_REDACTED]',
  phone: '[PHONE_REDACTED]',
  ip_address: '[IP_REDACTED]',
  api_key: '[TOKEN_REDACTED]',
  iban: '[IBAN_REDACTED]',
};

interface Span {
  readonly start: number;
  readonly end: number;
  readonly category: PiiCategory;
}

const MAX_EMAIL_LOCAL = 64; // RFC 5321 §4.5.3.1.1
const MAX_EMAIL_DOMAIN = 255; // RFC 5321 §4.5.3.1.2
const MAX_IPV6_CHARS = 45; // "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255"
const MAX_TOKEN_CHARS = 4096;
/** ISO 13616 lengths for common countries; others are accepted at 15..34 with a valid checksum. */
const IBAN_LENGTHS: Readonly<Record<string, number>> = {
  AT: 20, BE: 16, CH: 21, CZ: 24, DE: 22, DK: 18, ES: 24, FI: 18, FR: 27, GB: 22, GR: 27, HU: 28, IE: 22,
  IT: 27, LU: 20, NL: 18, NO: 15, PL: 28, PT: 25, SE: 24, SK: 24,
};

/** How printed card numbers are grouped: 16 and 19 digits in fours, Amex 4-6-5, Diners 4-6-4. */
const CARD_GROUPINGS: ReadonlySet<string> = new Set(['4,4,4,4', '4,4,4,4,3', '4,6,5', '4,6,4']);

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isAsciiLetter = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
const isAlnum = (c: number): boolean => isDigit(c) || isAsciiLetter(c);
const isUpper = (c: number): boolean => c >= 0x41 && c <= 0x5a;
const isHex = (c: number): boolean => isDigit(c) || (c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46);
const isEmailLocal = (c: number): boolean => isAlnum(c) || c === 0x2e || c === 0x5f || c === 0x25 || c === 0x2b || c === 0x2d;
const isDomainChar = (c: number): boolean => isAlnum(c) || c === 0x2e || c === 0x2d;
const isTokenChar = (c: number): boolean => isAlnum(c) || c === 0x5f || c === 0x2d || c === 0x2e;

/**
 * Finds and redacts personal data and secret shapes: e-mail addresses, payment card numbers
 * (13-19 digits, Luhn-checked), US SSNs (dashed, with invalid ranges excluded), phone numbers
 * (international `+` form, NANP and European groupings), IPv4 and IPv6 addresses, API-key shapes
 * (OpenAI, Anthropic, GitHub, Slack, AWS, Google, Stripe, Hugging Face, npm, GitLab, JWT, PEM
 * private keys, bearer tokens) and IBANs (ISO 7064 mod-97 checked). Hand-written scanners with
 * bounded look-around: linear time, no regex backtracking.
 *
 * @param only - redact just these categories (default: all).
 */
export function scrubPii(text: string, only?: ReadonlySet<PiiCategory>): PiiScrubResult {
  const spans: Span[] = [
    ...findEmails(text),
    ...findTokens(text),
    ...findPemKeys(text),
    ...findIbans(text),
    ...findIpv6(text),
    ...findDigitGroups(text),
  ];
  spans.sort((a, b) => a.start - b.start || b.end - a.end);
  const parts: string[] = [];
  const found = new Set<PiiCategory>();
  let count = 0;
  let cursor = 0;
  for (const span of spans) {
    if (span.start < cursor || (only !== undefined && !only.has(span.category))) {
      continue; // overlaps a longer or earlier finding, or not asked for
    }
    parts.push(text.slice(cursor, span.start), PLACEHOLDER[span.category]);
    cursor = span.end;
    found.add(span.category);
    count += 1;
  }
  parts.push(text.slice(cursor));
  return {
    scrubbed: parts.join(''),
    piiInstancesFound: count,
    piiCategories: CATEGORY_ORDER.filter((c) => found.has(c)),
  };
}

function findEmails(text: string): Span[] {
  const spans: Span[] = [];
  let floor = 0;
  for (let at = text.indexOf('@'); at >= 0; at = text.indexOf('@', at + 1)) {
    let start = at;
    while (start > floor && at - start < MAX_EMAIL_LOCAL && isEmailLocal(text.charCodeAt(start - 1))) {
      start -= 1;
    }
    let end = at + 1;
    while (end < text.length && end - at <= MAX_EMAIL_DOMAIN && isDomainChar(text.charCodeAt(end))) {
      end += 1;
    }
    while (end > at + 1 && (text.charCodeAt(end - 1) === 0x2e || text.charCodeAt(end - 1) === 0x2d)) {
      end -= 1;
    }
    const domain = text.slice(at + 1, end);
    const dot = domain.lastIndexOf('.');
    const tld = dot < 0 ? '' : domain.slice(dot + 1);
    if (start < at && dot > 0 && tld.length >= 2 && [...tld].every((ch) => isAsciiLetter(ch.charCodeAt(0)))) {
      spans.push({ start, end, category: 'email' });
      floor = end;
    }
  }
  return spans;
}

function findTokens(text: string): Span[] {
  const spans: Span[] = [];
  let i = 0;
  while (i < text.length) {
    if (!isTokenChar(text.charCodeAt(i))) {
      i += 1;
      continue;
    }
    const start = i;
    while (i < text.length && isTokenChar(text.charCodeAt(i))) {
      i += 1;
    }
    let end = i;
    while (end > start && text.charCodeAt(end - 1) === 0x2e) {
      end -= 1; // a sentence's full stop is not part of the token
    }
    if (end - start >= 20 && end - start <= MAX_TOKEN_CHARS && isSecretShape(text.slice(start, end))) {
      const bearer = text.slice(Math.max(0, start - 7), start).toLowerCase() === 'bearer ' ? 7 : 0;
      spans.push({ start: start - bearer, end, category: 'api_key' });
    } else if (end - start >= 20 && end - start <= MAX_TOKEN_CHARS && text.slice(Math.max(0, start - 7), start).toLowerCase() === 'bearer ') {
      spans.push({ start: start - 7, end, category: 'api_key' });
    }
  }
  return spans;
}

const SECRET_PREFIXES: readonly (readonly [string, number])[] = [
  ['sk-ant-', 30], ['sk-proj-', 30], ['sk-', 20], ['sk_live_', 16], ['sk_test_', 16], ['rk_live_', 16],
  ['pk_live_', 16], ['ghp_', 30], ['gho_', 30], ['ghu_', 30], ['ghs_', 30], ['ghr_', 30], ['github_pat_', 30],
  ['xoxb-', 20], ['xoxp-', 20], ['xoxa-', 20], ['xoxr-', 20], ['xoxs-', 20], ['glpat-', 20], ['hf_', 30],
  ['npm_', 36], ['AIza', 35], ['AKIA', 16], ['ASIA', 16], ['SG.', 40],
];

function isSecretShape(token: string): boolean {
  for (const [prefix, minRest] of SECRET_PREFIXES) {
    if (token.startsWith(prefix) && token.length - prefix.length >= minRest) {
      const rest = token.slice(prefix.length);
      if (prefix === 'AKIA' || prefix === 'ASIA') {
        return rest.length === 16 && [...rest].every((ch) => isUpper(ch.charCodeAt(0)) || isDigit(ch.charCodeAt(0)));
      }
      return hasDigitAndLetter(rest);
    }
  }
  if (token.startsWith('eyJ')) {
    const parts = token.split('.');
    return parts.length === 3 && parts.every((p) => p.length >= 8);
  }
  return false;
}

function hasDigitAndLetter(s: string): boolean {
  let digit = false;
  let letter = false;
  for (let i = 0; i < s.length && !(digit && letter); i += 1) {
    const c = s.charCodeAt(i);
    digit ||= isDigit(c);
    letter ||= isAsciiLetter(c);
  }
  return digit && letter;
}

function findPemKeys(text: string): Span[] {
  const spans: Span[] = [];
  for (let at = text.indexOf('-----BEGIN '); at >= 0; at = text.indexOf('-----BEGIN ', at + 1)) {
    const headerEnd = text.indexOf('-----', at + 11);
    if (headerEnd < 0 || headerEnd - at > 64) {
      continue;
    }
    const label = text.slice(at + 11, headerEnd);
    if (!label.endsWith('PRIVATE KEY')) {
      continue;
    }
    const footer = `-----END ${label}-----`;
    const end = text.indexOf(footer, headerEnd);
    spans.push({ start: at, end: end < 0 ? text.length : end + footer.length, category: 'api_key' });
    if (end < 0) {
      break;
    }
    at = end;
  }
  return spans;
}

function findIbans(text: string): Span[] {
  const spans: Span[] = [];
  for (let i = 0; i + 4 <= text.length; i += 1) {
    if (!(isUpper(text.charCodeAt(i)) && isUpper(text.charCodeAt(i + 1)) && isDigit(text.charCodeAt(i + 2)) && isDigit(text.charCodeAt(i + 3)))) {
      continue;
    }
    if (i > 0 && isAlnum(text.charCodeAt(i - 1))) {
      continue;
    }
    const chars: string[] = [];
    const ends: number[] = [];
    let j = i;
    while (j < text.length && chars.length < 34) {
      const c = text.charCodeAt(j);
      if (isAlnum(c)) {
        chars.push(String.fromCharCode(c).toUpperCase());
        ends.push(j + 1);
        j += 1;
      } else if (c === 0x20 && isAlnum(text.charCodeAt(j + 1))) {
        j += 1;
      } else {
        break;
      }
    }
    const country = text.slice(i, i + 2);
    const wanted = IBAN_LENGTHS[country];
    for (let len = Math.min(chars.length, 34); len >= 15; len -= 1) {
      if (wanted !== undefined && len !== wanted) {
        continue;
      }
      const end = ends[len - 1] ?? 0;
      if (end < text.length && isAlnum(text.charCodeAt(end))) {
        continue;
      }
      if (ibanChecksumValid(chars.slice(0, len))) {
        spans.push({ start: i, end, category: 'iban' });
        i = end - 1;
        break;
      }
    }
  }
  return spans;
}

function ibanChecksumValid(chars: readonly string[]): boolean {
  const rearranged = [...chars.slice(4), ...chars.slice(0, 4)];
  let remainder = 0;
  for (const ch of rearranged) {
    const code = ch.charCodeAt(0);
    const value = isDigit(code) ? code - 0x30 : code - 0x41 + 10;
    remainder = value >= 10 ? (remainder * 100 + value) % 97 : (remainder * 10 + value) % 97;
  }
  return remainder === 1;
}

function findIpv6(text: string): Span[] {
  const spans: Span[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (!(isHex(c) || c === 0x3a)) {
      i += 1;
      continue;
    }
    const start = i;
    let colons = 0;
    while (i < text.length) {
      const d = text.charCodeAt(i);
      if (d === 0x3a) {
        colons += 1;
      } else if (!(isHex(d) || d === 0x2e)) {
        break;
      }
      i += 1;
    }
    if (start > 0 && isAlnum(text.charCodeAt(start - 1))) {
      continue;
    }
    let end = i;
    while (end > start && text.charCodeAt(end - 1) === 0x2e) {
      end -= 1;
    }
    if (colons >= 2 && end - start <= MAX_IPV6_CHARS && end - start >= 3 && !(i < text.length && isAlnum(text.charCodeAt(i)))) {
      const candidate = text.slice(start, end);
      if (ipaddr.IPv6.isValid(candidate) && candidate !== '::') {
        spans.push({ start, end, category: 'ip_address' });
      }
    }
  }
  return spans;
}

/**
 * Digit groups joined by single separators: cards, SSNs, phones and IPv4 addresses. A group run
 * is scanned once; its digits and separators decide the category.
 */
function findDigitGroups(text: string): Span[] {
  const spans: Span[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    const plus = c === 0x2b && isDigit(text.charCodeAt(i + 1));
    const paren = c === 0x28 && isDigit(text.charCodeAt(i + 1));
    if (!isDigit(c) && !plus && !paren) {
      i += 1;
      continue;
    }
    if (i > 0 && (isAlnum(text.charCodeAt(i - 1)) || text.charCodeAt(i - 1) === 0x2e)) {
      while (i < text.length && isAlnum(text.charCodeAt(i))) {
        i += 1;
      }
      continue;
    }
    const start = i;
    const groups: number[] = [];
    const seps: string[] = [];
    let digits = '';
    if (plus || paren) {
      i += 1;
    }
    for (;;) {
      const groupStart = i;
      while (i < text.length && isDigit(text.charCodeAt(i))) {
        i += 1;
      }
      groups.push(i - groupStart);
      digits += text.slice(groupStart, i);
      if (digits.length > 24) {
        break;
      }
      const s = text.charCodeAt(i);
      const isSep = s === 0x20 || s === 0x2d || s === 0x2e || s === 0x29;
      if (s === 0x20 && text.charCodeAt(i + 1) === 0x28 && isDigit(text.charCodeAt(i + 2))) {
        seps.push(' (');
        i += 2;
      } else if (isSep && s === 0x29 && text.charCodeAt(i + 1) === 0x20 && isDigit(text.charCodeAt(i + 2))) {
        seps.push(') ');
        i += 2;
      } else if (isSep && isDigit(text.charCodeAt(i + 1))) {
        seps.push(String.fromCharCode(s));
        i += 1;
      } else {
        break;
      }
    }
    const end = i;
    if (end < text.length && isAsciiLetter(text.charCodeAt(end))) {
      continue;
    }
    const category = classifyDigits(text.charCodeAt(start), digits, groups, seps);
    if (category !== undefined) {
      spans.push({ start, end, category });
    }
  }
  return spans;
}

function classifyDigits(first: number, digits: string, groups: readonly number[], seps: readonly string[]): PiiCategory | undefined {
  const sepSet = new Set(seps);
  if (first !== 0x2b && first !== 0x28 && groups.length === 4 && seps.every((s) => s === '.') && groups.every((g) => g >= 1 && g <= 3)) {
    return isIpv4(digits, groups) ? 'ip_address' : undefined;
  }
  if (sepSet.has('.') && first !== 0x2b) {
    return undefined; // decimals, versions and dates, not phone numbers
  }
  const cardShape = groups.length === 1 || CARD_GROUPINGS.has(groups.join(','));
  if (first !== 0x2b && first !== 0x28 && digits.length >= 13 && digits.length <= 19 && cardShape && sepSet.size <= 1 && luhnValid(digits)) {
    return 'credit_card';
  }
  if (first !== 0x2b && groups.join(',') === '3,2,4' && seps.every((s) => s === '-') && ssnValid(digits)) {
    return 'ssn';
  }
  if (first === 0x2b) {
    return digits.length >= 8 && digits.length <= 15 && groups.length >= 2 ? 'phone' : undefined;
  }
  const shape = groups.join(',');
  if (first === 0x28) {
    return shape === '3,3,4' || shape === '3,7' ? 'phone' : undefined;
  }
  if (shape === '3,3,4' || shape === '1,3,3,4' || shape === '2,2,2,2,2') {
    return 'phone';
  }
  return undefined;
}

function isIpv4(digits: string, groups: readonly number[]): boolean {
  let offset = 0;
  for (const len of groups) {
    const octet = digits.slice(offset, offset + len);
    offset += len;
    if (Number(octet) > 255 || (octet.length > 1 && octet.startsWith('0'))) {
      return false;
    }
  }
  return true;
}

function ssnValid(digits: string): boolean {
  const area = digits.slice(0, 3);
  return area !== '000' && area !== '666' && !area.startsWith('9') && digits.slice(3, 5) !== '00' && digits.slice(5) !== '0000';
}

function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i -= 1) {
    let d = digits.charCodeAt(i) - 0x30;
    if (double) {
      d *= 2;
      if (d > 9) {
        d -= 9;
      }
    }
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}
