import type { InjectionCategory } from './injection-rules.js';

/** A markup-level finding (chat-template tokens, fake role labels, exfiltration image links). */
export interface MarkerHit {
  readonly id: string;
  readonly category: InjectionCategory;
  readonly weight: number;
}

/** Literal model chat-template delimiters (Llama 2, Gemma, Alpaca-style), matched in lower case. */
const TEMPLATE_LITERALS: readonly string[] = [
  '[inst]', '[/inst]', '<<sys>>', '<</sys>>', '<start_of_turn>', '<end_of_turn>', '<s>[inst]',
];
/** Tag names that only make sense as fake prompt structure. */
const FAKE_TAGS: ReadonlySet<string> = new Set([
  'system', 'system_prompt', 'system_message', 'systemprompt', 'sys', 'instructions', 'instruction', 'admin',
  'developer', 'user_input', 'untrusted_input', 'assistant', 'im_start', 'im_end', 'sistema', 'systeme',
]);
/** Role labels that, at the start of a line, impersonate a higher-priority message. */
const STRONG_LINE_LABELS: ReadonlySet<string> = new Set([
  'system', 'system prompt', 'system message', 'systemnachricht', 'sistema', 'systeme', 'admin',
  'administrator', 'developer', 'root', 'mensaje del sistema', 'message systeme', 'messaggio di sistema',
]);
const WEAK_LINE_LABELS: ReadonlySet<string> = new Set(['assistant', 'human', 'model', 'ai', 'bot', 'chatgpt', 'claude', 'response']);
const MAX_LABEL_CHARS = 24;
const MAX_SPECIAL_TOKEN_CHARS = 40;

function isLabelChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || c === 0x20 || c === 0x5f;
}

function isTokenNameChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x5f;
}

/**
 * Scans lower-cased detection text for markup that fakes prompt structure: `<|name|>` special
 * tokens (ChatML, Llama 3, Phi, gpt-oss harmony), Llama-2/Gemma/Alpaca markers, fake
 * `<system>`-style tags, role labels at line starts (`SYSTEM:`, `[system]`, `### System`), and
 * Markdown images whose URL carries a query (a known exfiltration channel). Each scan is a bounded
 * look-ahead from `indexOf`, so the whole pass is linear.
 */
export function scanMarkers(lower: string): MarkerHit[] {
  const hits: MarkerHit[] = [];
  if (hasSpecialToken(lower)) {
    hits.push({ id: 'delimiter.special_token', category: 'fake_delimiter', weight: 0.9 });
  }
  if (TEMPLATE_LITERALS.some((literal) => lower.includes(literal))) {
    hits.push({ id: 'delimiter.template_marker', category: 'fake_delimiter', weight: 0.9 });
  }
  if (hasFakeTag(lower)) {
    hits.push({ id: 'delimiter.fake_tag', category: 'fake_delimiter', weight: 0.7 });
  }
  const labels = scanLineLabels(lower);
  if (labels.strong) {
    hits.push({ id: 'delimiter.role_label', category: 'fake_delimiter', weight: 0.55 });
  }
  if (labels.weak) {
    hits.push({ id: 'delimiter.weak_role_label', category: 'fake_delimiter', weight: 0.15 });
  }
  if (hasExfiltrationImage(lower)) {
    hits.push({ id: 'indirect.markdown_image_query', category: 'indirect_instruction', weight: 0.4 });
  }
  return hits;
}

function hasSpecialToken(lower: string): boolean {
  let from = 0;
  for (;;) {
    const at = lower.indexOf('<|', from);
    if (at < 0) {
      return false;
    }
    let i = at + 2;
    const limit = Math.min(lower.length, i + MAX_SPECIAL_TOKEN_CHARS);
    while (i < limit && isTokenNameChar(lower.charCodeAt(i))) {
      i += 1;
    }
    if (i > at + 2 && lower.startsWith('|>', i)) {
      return true;
    }
    from = at + 2;
  }
}

function hasFakeTag(lower: string): boolean {
  let from = 0;
  for (;;) {
    const at = lower.indexOf('<', from);
    if (at < 0) {
      return false;
    }
    let i = at + 1;
    if (lower.charCodeAt(i) === 0x2f) {
      i += 1;
    }
    const nameStart = i;
    const limit = Math.min(lower.length, i + MAX_LABEL_CHARS);
    while (i < limit && isTokenNameChar(lower.charCodeAt(i))) {
      i += 1;
    }
    if (lower.charCodeAt(i) === 0x3e && FAKE_TAGS.has(lower.slice(nameStart, i))) {
      return true;
    }
    from = at + 1;
  }
}

function scanLineLabels(lower: string): { strong: boolean; weak: boolean } {
  let strong = false;
  let weak = false;
  let lineStart = 0;
  while (lineStart <= lower.length && !(strong && weak)) {
    const nl = lower.indexOf('\n', lineStart);
    const lineEnd = nl < 0 ? lower.length : nl;
    const kind = classifyLine(lower, lineStart, lineEnd);
    strong ||= kind === 'strong';
    weak ||= kind === 'weak';
    if (nl < 0) {
      break;
    }
    lineStart = nl + 1;
  }
  return { strong, weak };
}

function classifyLine(lower: string, start: number, end: number): 'strong' | 'weak' | 'none' {
  let i = start;
  let hashes = 0;
  let bracket = false;
  const prefixLimit = Math.min(end, start + 8);
  while (i < prefixLimit) {
    const c = lower.charCodeAt(i);
    if (c === 0x23) {
      hashes += 1;
    } else if (c === 0x5b || c === 0x28) {
      bracket = true;
    } else if (c !== 0x20 && c !== 0x2a && c !== 0x3e && c !== 0x2d && c !== 0x3d) {
      break;
    }
    i += 1;
  }
  const labelStart = i;
  const labelLimit = Math.min(end, i + MAX_LABEL_CHARS);
  while (i < labelLimit && isLabelChar(lower.charCodeAt(i))) {
    i += 1;
  }
  const label = lower.slice(labelStart, i).trim();
  const next = lower.charCodeAt(i);
  const closed = next === 0x3a || (bracket && (next === 0x5d || next === 0x29)) || (hashes >= 2 && (i === end || next === 0x3a));
  if (!closed || label.length === 0) {
    return 'none';
  }
  if (STRONG_LINE_LABELS.has(label) || (hashes >= 2 && (label === 'instruction' || label === 'instructions'))) {
    return 'strong';
  }
  return WEAK_LINE_LABELS.has(label) ? 'weak' : 'none';
}

function hasExfiltrationImage(lower: string): boolean {
  const window = 512;
  let from = 0;
  for (;;) {
    const at = lower.indexOf('](http', from);
    if (at < 0) {
      return false;
    }
    const before = lower.slice(Math.max(0, at - window), at);
    let url = lower.slice(at, at + window);
    const close = url.indexOf(')');
    if (close >= 0) {
      url = url.slice(0, close);
    }
    if (before.includes('![') && url.includes('?') && url.includes('=')) {
      return true;
    }
    from = at + 2;
  }
}
