// A port of the predecessor's sanitizeInput (src/security/sanitize.ts): NFKC, zero-width
// removal, whitespace collapse, a length cap, then known prompt-injection phrases replaced by
// [FILTERED:<name>]. Every pattern is linear: no nested quantifiers.
const ZERO_WIDTH = /[\u200B-\u200D\u2060\uFEFF\u00AD]/g;
/** Longest free text passed on, in UTF-16 units (the predecessor's MAX_INPUT_LENGTH). */
export const MAX_TEXT_LENGTH = 4000;

const PATTERNS: readonly [string, RegExp][] = [
  ['ignore_previous', /ignore (?:all )?(?:the )?(?:previous|prior|above|earlier) (?:instructions|prompts|rules|messages)/gi],
  ['disregard_previous', /disregard (?:all )?(?:the )?(?:previous|prior|above|earlier)/gi],
  ['forget_previous', /forget (?:everything|all previous|your (?:previous )?instructions)/gi],
  ['role_override', /you are now (?:a|an|the|in)\b/gi],
  ['act_as', /\bact as (?:a|an|the|if)\b/gi],
  ['pretend_to_be', /pretend (?:to be|you are)/gi],
  ['fake_system_tag', /\[ ?system ?\]/gi],
  ['fake_system_xml', /< ?\/? ?system ?>/gi],
  ['fake_system_markdown', /#{1,6} ?system ?:/gi],
  ['new_instructions', /new instructions ?:/gi],
  ['override_instructions', /override (?:all |your |the )?(?:previous )?instructions/gi],
  ['fake_instructions', /\[\/?INST\]/gi],
  ['extract_system_prompt', /(?:print|show|output|repeat|tell me) (?:me )?(?:your|the) (?:system )?prompt/gi],
  ['reveal_prompt', /reveal (?:your|the) (?:system )?(?:prompt|instructions)/gi],
  ['dan_jailbreak', /\bdo anything now\b/gi],
  ['explicit_jailbreak', /\bjailbr(?:ea|o)k/gi],
  ['grandma_trick', /grandma used to/gi],
  ['developer_mode', /developer mode (?:enabled|on|activated)/gi],
];

/** Result of {@link sanitizeText}. */
export interface Sanitized {
  text: string;
  /** Names of the injection patterns that matched. */
  injections: string[];
}

/** Sanitizes free text (reason, evidence) from an untrusted source before an agent can see it. */
export function sanitizeText(input: string): Sanitized {
  let text = input.normalize('NFKC').replace(ZERO_WIDTH, '').replace(/\s+/g, ' ').trim();
  if (text.length > MAX_TEXT_LENGTH) {
    text = text.slice(0, MAX_TEXT_LENGTH);
  }
  const injections: string[] = [];
  for (const [name, re] of PATTERNS) {
    const next = text.replace(re, `[FILTERED:${name}]`);
    if (next !== text) {
      injections.push(name);
      text = next;
    }
  }
  return { text, injections };
}

/**
 * Sanitizes an identifier (account id, comm, path): NFKC, then only printable ASCII is kept and
 * the result is capped at `max` characters; a removed character becomes `?`. The predecessor put
 * the raw account id into alert titles.
 */
export function sanitizeIdentifier(input: string, max = 256): string {
  return input.normalize('NFKC').replace(/[^\x20-\x7e]/g, '?').slice(0, max);
}
