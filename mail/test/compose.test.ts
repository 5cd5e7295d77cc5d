import { describe, expect, it } from 'vitest';
import { composeReply, replySubject } from '../compose';

describe('reply composition', () => {
  it('prefixes Re: once', () => {
    expect(replySubject('Meeting notes')).toBe('Re: Meeting notes');
    expect(replySubject('RE: Re:  Meeting notes')).toBe('Re: Meeting notes');
    expect(replySubject(undefined)).toBe('Re: your recording');
  });

  it('states the balance in the words the chat bots use for /balance', () => {
    const balanceLine = (balanceSeconds: number) => {
      const to = { channel: 'email', chatId: 'ann@ann.test', messageId: '<m@ann.test>' } as const;
      const mail = composeReply(to, { key: `b${balanceSeconds}`, kind: 'notice', text: 'x', balanceSeconds }, 'service@example.test');
      return (mail.text as string).split('\n').find((line) => line.startsWith('Balance:'));
    };
    expect(balanceLine(560)).toBe('Balance: 9 min 20 s');
    expect(balanceLine(45)).toBe('Balance: 45 s');
    expect(balanceLine(7500)).toBe('Balance: 125 min');
    expect(balanceLine(0)).toBe('Balance: 0 s');
  });

  it('states a debt beside the balance', () => {
    const to = { channel: 'email', chatId: 'ann@ann.test', messageId: '<m@ann.test>' } as const;
    const mail = composeReply(to, { key: 'owed', kind: 'notice', text: 'x', balanceSeconds: 0, owedSeconds: 75 }, 'service@example.test');
    expect(mail.text).toContain('Balance: 0 s You owe 1 min 15 s from a refunded or disputed payment; your next payment pays that first.');
  });

  it('escapes the text in HTML and links the action', () => {
    const mail = composeReply(
      { channel: 'email', chatId: 'ann@ann.test', messageId: '<m1@ann.test>', subject: 'x', references: ['<m0@ann.test>'] },
      {
        key: 'k1',
        kind: 'quote',
        text: 'Pay <now> & go',
        action: { label: 'Pay $1.00', url: 'https://pay.test/?a=1&b=2' },
        balanceSeconds: 0,
      },
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
