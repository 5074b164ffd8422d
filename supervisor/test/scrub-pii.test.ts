import { describe, expect, it } from 'vitest';
import { scrubPii } from '../src/security/sanitize/index.js';

describe('scrubPii', () => {
  it.each([
    ['email', 'write to jane.doe+x@mail.example.co.uk.', 'write to [EMAIL_REDACTED].'],
    ['credit_card', 'card 4111 1111 1111 1111 exp 12/29', 'card [CARD_REDACTED] exp 12/29'],
    ['credit_card', 'card 5500-0000-0000-0004', 'card [CARD_REDACTED]'],
    ['ssn', 'ssn 123-45-6789', 'ssn [SSN_REDACTED]'],
    ['phone', 'call +1 (555) 123-4567 now', 'call [PHONE_REDACTED] now'],
    ['phone', 'ruf +49 30 1234567 an', 'ruf [PHONE_REDACTED] an'],
    ['phone', 'call (555) 123-4567', 'call [PHONE_REDACTED]'],
    ['phone', 'appelle le 06 12 34 56 78', 'appelle le [PHONE_REDACTED]'],
    ['ip_address', 'host 192.168.10.1 is up', 'host [IP_REDACTED] is up'],
    ['ip_address', 'v6 2001:db8::8a2e:370:7334 and ::ffff:10.0.0.1', 'v6 [IP_REDACTED] and [IP_REDACTED]'],
    ['api_key', 'key sk-proj-abcdefghijklmnopqrstuvwxyz0123456789', 'key [TOKEN_REDACTED]'],
    ['api_key', 'token ghp_abcdefghijklmnopqrstuvwxyz0123456789', 'token [TOKEN_REDACTED]'],
    ['api_key', 'aws AKIAIOSFODNN7EXAMPLE', 'aws [TOKEN_REDACTED]'],
    ['api_key', 'Authorization: Bearer abcdefghijklmnopqrstuvwxyz012345', 'Authorization: [TOKEN_REDACTED]'],
    ['api_key', 'jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U', 'jwt [TOKEN_REDACTED]'],
    ['api_key', 'k -----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY----- end', 'k [TOKEN_REDACTED] end'],
    ['iban', 'IBAN DE89 3704 0044 0532 0130 00 please', 'IBAN [IBAN_REDACTED] please'],
    ['iban', 'pay GB82WEST12345698765432.', 'pay [IBAN_REDACTED].'],
  ])('redacts %s in %j', (category, input, expected) => {
    const r = scrubPii(input);
    expect(r.scrubbed).toBe(expected);
    expect(r.piiCategories).toEqual([category]);
  });

  it.each([
    'card 4111 1111 1111 1112 fails Luhn',
    'ssn 000-12-3456 and 666-12-3456 are never issued',
    'released on 2024-01-15 as version 1.2.3',
    'order number 1234567890123',
    'the time is 12:30:45',
    'UUID 550e8400-e29b-41d4-a716-446655440000',
    'IBAN DE89 3704 0044 0532 0130 01 has a bad checksum',
    'sk-short',
    'an @ sign alone, and user@localhost',
    'total 1 000 000 units',
  ])('leaves %j alone', (input) => {
    expect(scrubPii(input)).toEqual({ scrubbed: input, piiInstancesFound: 0, piiCategories: [] });
  });

  it('reports categories in a stable order and counts instances', () => {
    const r = scrubPii('a@example.com 10.0.0.1 b@example.com 4111111111111111');
    expect(r).toEqual({
      scrubbed: '[EMAIL_REDACTED] [IP_REDACTED] [EMAIL_REDACTED] [CARD_REDACTED]',
      piiInstancesFound: 4,
      piiCategories: ['email', 'credit_card', 'ip_address'],
    });
  });
});
