import { foldForDetection } from './fold-for-detection.js';
import { normalizeText } from './normalize-text.js';
import { PhraseMatcher, tokenize } from './phrase-matcher.js';
import type { PhraseRule } from './phrase-matcher.js';
import { OutputFilterOptions, parseOptions } from './sanitize-options.js';
import type { OutputFilterOptionsInput } from './sanitize-options.js';
import { scrubPii } from './scrub-pii.js';
import type { PiiCategory } from './scrub-pii.js';

/** Result of {@link filterModelOutput}. */
export interface OutputFilterResult {
  /** The output must not be used; `filtered` is then a fixed refusal text. */
  readonly blocked: boolean;
  /** The text to pass on: credentials redacted, length capped, or the refusal when blocked. */
  readonly filtered: string;
  /** Why it was blocked (rule ids); empty when not blocked. */
  readonly reasons: string[];
  /** Audit-only findings (rule ids, `output_length_exceeded:<chars>`). */
  readonly flagged: string[];
}

type OutputRuleKind = 'block' | 'flag' | 'strict_flag';

/** Text that replaces a blocked output (same wording as the predecessor, so clients keep working). */
export const BLOCKED_OUTPUT_TEXT = '[Response blocked by content policy. Please rephrase your request.]';
const TRUNCATION_NOTE = '\n[Output truncated by content filter]';
const DEFAULT_OPTIONS = parseOptions(OutputFilterOptions, {}, 'output filter');
const CREDENTIALS_ONLY: ReadonlySet<PiiCategory> = new Set(['api_key']);

const MODE_ADJ = ['jailbreak', 'jailbroken', 'dan', 'developer', 'god', 'unrestricted', 'unfiltered', 'evil', 'desarrollador', 'developpeur', 'sviluppatore'];
const MODE = ['mode', 'modus', 'modo', 'modalita'];
const ON = ['enabled', 'activated', 'active', 'engaged', 'unlocked', 'aktiviert', 'activado', 'activo', 'active', 'activee', 'attivata', 'attiva', 'attivo'];
const RESTRICTIONS = ['restriction*', 'rule', 'rules', 'guideline*', 'filter*', 'limit', 'limits', 'limitation*', 'polic*', 'censor*', 'constraint*', 'ethic*'];

const OUTPUT_RULES: readonly PhraseRule<OutputRuleKind>[] = [
  { id: 'jailbreak_confirmed.mode_enabled', category: 'block', weight: 1, slots: [MODE_ADJ, MODE, ON], gaps: [0, 2] },
  { id: 'jailbreak_confirmed.mode_enabled', category: 'block', weight: 1, slots: [MODE, MODE_ADJ, ON], gaps: [0, 2] },
  { id: 'jailbreak_confirmed.mode_word', category: 'block', weight: 1, slots: [['entwicklermodus', 'godmode', 'devmode'], ON], gaps: [2] },
  { id: 'jailbreak_confirmed.successful', category: 'block', weight: 1, slots: [['jailbreak', 'jailbroken'], ['successful', 'succeeded', 'complete', 'completed', 'enabled', 'activated', 'worked']], gaps: [2] },
  { id: 'jailbreak_confirmed.i_am_dan', category: 'block', weight: 1, slots: [['i'], ['am', 'm'], ['now'], ['dan', 'jailbroken', 'unrestricted', 'unfiltered', 'free', 'unchained']], gaps: [0, 0, 1] },
  { id: 'jailbreak_confirmed.as_dan', category: 'block', weight: 1, slots: [['as'], ['dan^'], ['i']], gaps: [0, 1] },
  { id: 'jailbreak_confirmed.been_freed', category: 'block', weight: 1, slots: [['i'], ['have', 've'], ['been'], ['jailbroken', 'freed', 'unlocked', 'liberated']], gaps: [0, 0, 0] },
  { id: 'jailbreak_confirmed.free_from_restrictions', category: 'block', weight: 1, slots: [['i'], ['am', 'm'], ['free', 'freed', 'released', 'liberated', 'unbound'], ['from', 'of'], RESTRICTIONS], gaps: [0, 1, 0, 3] },
  { id: 'jailbreak_confirmed.no_longer_bound', category: 'block', weight: 1, slots: [['i'], ['am', 'm'], ['no'], ['longer'], ['bound', 'restricted', 'limited', 'constrained', 'subject']], gaps: [0, 1, 0, 0] },
  { id: 'system_prompt_reference', category: 'flag', weight: 1, slots: [['my', 'the'], ['system', 'initial', 'hidden', 'original'], ['prompt', 'instructions', 'message']], gaps: [0, 0] },
  { id: 'irreversible_action_language.cannot_be_undone', category: 'strict_flag', weight: 1, slots: [['be'], ['undone', 'reversed', 'recovered', 'restored']], gaps: [0] },
  { id: 'irreversible_action_language.permanent', category: 'strict_flag', weight: 1, slots: [['irreversibl*', 'permanently', 'unrecoverabl*']], gaps: [] },
  { id: 'irreversible_action_language.done', category: 'strict_flag', weight: 1, slots: [['i'], ['have', 've'], ['deleted', 'wiped', 'destroyed', 'transferred', 'wired', 'paid', 'revoked', 'dropped']], gaps: [0, 1] },
  { id: 'irreversible_action_language.wire_transfer', category: 'strict_flag', weight: 1, slots: [['wire'], ['transfer*']], gaps: [0] },
  { id: 'code_execution_suggestion', category: 'strict_flag', weight: 1, slots: [['run', 'execute', 'paste', 'type'], ['this', 'the', 'following'], ['command', 'commands', 'script', 'code', 'snippet']], gaps: [1, 1] },
];
const outputMatcher = new PhraseMatcher(OUTPUT_RULES);

/** Destructive or remote-control commands: blocked in every mode. */
const DESTRUCTIVE_CODE: readonly (readonly [string, string])[] = [
  ['rm -rf /', 'dangerous_code.rm_rf_root'], ['rm -rf ~', 'dangerous_code.rm_rf_home'], ['rm -rf --no-preserve-root', 'dangerous_code.rm_rf_root'],
  ['rm -rf /*', 'dangerous_code.rm_rf_root'], [':(){ :|:& };:', 'dangerous_code.fork_bomb'], [':(){:|:&};:', 'dangerous_code.fork_bomb'],
  ['mkfs.', 'dangerous_code.mkfs'], ['dd if=/dev/zero of=/dev/', 'dangerous_code.disk_wipe'], ['dd if=/dev/urandom of=/dev/', 'dangerous_code.disk_wipe'],
  ['dd if=/dev/random of=/dev/', 'dangerous_code.disk_wipe'], ['> /dev/sda', 'dangerous_code.disk_wipe'], ['bash -i >& /dev/tcp/', 'dangerous_code.reverse_shell'],
  ['/dev/tcp/', 'dangerous_code.reverse_shell'], ['nc -e /bin/sh', 'dangerous_code.reverse_shell'], ['nc -e /bin/bash', 'dangerous_code.reverse_shell'],
  ['ncat -e /bin/', 'dangerous_code.reverse_shell'], ['vssadmin delete shadows', 'dangerous_code.shadow_copy_delete'],
  ['format c:', 'dangerous_code.format_disk'], ['del /f /s /q c:\\', 'dangerous_code.format_disk'], ['chmod -r 777 /', 'dangerous_code.chmod_root'],
];
/** Risky execution patterns: flagged normally, blocked in strict mode. */
const RISKY_CODE: readonly (readonly [string, string])[] = [
  ['powershell -enc', 'risky_code.encoded_powershell'], ['powershell -e ', 'risky_code.encoded_powershell'],
  ['-encodedcommand', 'risky_code.encoded_powershell'], ['invoke-expression', 'risky_code.invoke_expression'],
  ['iex(', 'risky_code.invoke_expression'], ['iex (', 'risky_code.invoke_expression'], ['eval(atob(', 'risky_code.eval_decoded'],
  ['eval(base64_decode(', 'risky_code.eval_decoded'], ['base64 -d | sh', 'risky_code.pipe_to_shell'], ['base64 -d | bash', 'risky_code.pipe_to_shell'],
  ['drop table', 'risky_code.drop_table'], ['drop database', 'risky_code.drop_table'], ['/etc/shadow', 'risky_code.shadow_file'],
  ['reg delete hklm', 'risky_code.registry_delete'], ['certutil -urlcache', 'risky_code.download_cradle'],
];

/**
 * Filters model output before it reaches an agent or a user (the predecessor's content filter,
 * rebuilt): blocks jailbreak confirmations and destructive commands, redacts credential shapes,
 * flags system-prompt references and risky code. `strict` (HIGH tier) also blocks on credentials
 * and risky code, redacts all PII, flags code-execution and irreversible-action language, and halves
 * the length cap. Matching runs on a normalized, confusable-folded view; pure and linear-time.
 *
 * @throws EosError `EOS_INVALID_ARGUMENT` when `options` is invalid.
 */
export function filterModelOutput(text: string, options?: OutputFilterOptionsInput): OutputFilterResult {
  const opts = options === undefined ? DEFAULT_OPTIONS : parseOptions(OutputFilterOptions, options, 'output filter');
  const blockReasons = new Set<string>();
  const flagged = new Set<string>();
  const folded = foldForDetection(normalizeText(text).text).text;
  for (const index of outputMatcher.match(tokenize(folded))) {
    const rule = outputMatcher.rule(index);
    if (rule.category === 'block') {
      blockReasons.add(rule.id);
    } else if (rule.category === 'flag' || (rule.category === 'strict_flag' && opts.strict)) {
      flagged.add(rule.id);
    }
  }
  const lower = collapseSpaces(folded.toLowerCase());
  for (const [marker, id] of DESTRUCTIVE_CODE) {
    if (lower.includes(marker)) {
      blockReasons.add(id);
    }
  }
  for (const [marker, id] of RISKY_CODE) {
    if (lower.includes(marker)) {
      (opts.strict ? blockReasons : flagged).add(id);
    }
  }
  if (hasPipeToShell(lower)) {
    (opts.strict ? blockReasons : flagged).add('risky_code.pipe_to_shell');
  }
  const pii = scrubPii(text);
  const hasCredential = pii.piiCategories.includes('api_key');
  if (hasCredential) {
    (opts.strict ? blockReasons : flagged).add('credential_in_output');
  }
  for (const category of pii.piiCategories) {
    if (category !== 'api_key') {
      flagged.add(`pii_in_output:${category}`);
    }
  }
  if (blockReasons.size > 0) {
    return { blocked: true, filtered: BLOCKED_OUTPUT_TEXT, reasons: [...blockReasons].sort(), flagged: [...flagged].sort() };
  }
  let filtered = text;
  if (opts.strict ? pii.piiInstancesFound > 0 : hasCredential) {
    filtered = opts.strict ? pii.scrubbed : scrubPii(text, CREDENTIALS_ONLY).scrubbed;
  }
  const cap = opts.strict ? Math.floor(opts.maxChars / 2) : opts.maxChars;
  if (filtered.length > cap) {
    flagged.add(`output_length_exceeded:${filtered.length}`);
    filtered = filtered.slice(0, cap) + TRUNCATION_NOTE;
  }
  return { blocked: false, filtered, reasons: [], flagged: [...flagged].sort() };
}

function collapseSpaces(text: string): string {
  return text.replace(/[ \t]+/g, ' ');
}

function hasPipeToShell(lower: string): boolean {
  for (const line of lower.split('\n')) {
    if ((line.includes('curl ') || line.includes('wget ')) && /\|\s?(sudo )?(ba|z)?sh\b/.test(line)) {
      return true;
    }
  }
  return false;
}
