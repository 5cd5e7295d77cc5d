import { describe, expect, it } from 'vitest';
import { formatSeconds } from '../balance';
import { composeReply, replySubject } from '../compose';

describe('reply composition', () => {
  it('prefixes Re: once', () => {
    expect(replySubject('Meeting notes')).toBe('Re: Meeting notes');
    expect(replySubject('RE: Re:  Meeting notes')).toBe('Re: Meeting notes');
    expect(replySubject(undefined)).toBe('Re: your recording');
  });

  it('states balances the way people read them', () => {
    expect(formatSeconds(560)).toBe('9 min 20 s');
    expect(formatSeconds(45)).toBe('45 s');
    expect(formatSeconds(7500)).toBe('2 h 5 min');
    expect(formatSeconds(0)).toBe('0 s');
  });

  it('escapes the text in HTML and links the action', () => {
    const mail = composeReply(
      { channel: 'email', chatId: 'ann@ann.test', messageId: '<m1@ann.test>', subject: 'x', references: ['<m0@ann.test>'] },
      { key: 'k1', kind: 'quote', text: 'Pay <now> & go', action: { label: 'Pay $1.00', url: 'https://pay.test/?a=1&b=2' }, balanceSeconds: 0 },
      'Service <service@example.test>',
    );
    expect(mail.html).toContain('Pay &lt;now&gt; &amp; go');
    expect(mail.html).toContain('<a href="https://pay.test/?a=1&amp;b=2">Pay $1.00</a>');
    expect(mail.text).toContain('Pay $1.00: https://pay.test/?a=1&b=2');
    expect(mail.text).toContain('Balance: 0 s');
    expect(mail.references).toEqual(['<m0@ann.test>', '<m1@ann.test>']);
    expect(mail.messageId).toMatch(/@example\.test>$/);
  });
});
