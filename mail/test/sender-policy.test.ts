import { describe, expect, it } from 'vitest';
import { parseHeaders } from '../message';
import { SenderPolicy } from '../sender-policy';
import { hostile, realWorld, type AuthCase } from './auth-corpus';

const policy = new SenderPolicy({ senderAuth: 'dmarc', authservId: 'mx.example.test', ownAddresses: ['service@example.test'] });
const open = new SenderPolicy({ senderAuth: 'none', ownAddresses: ['service@example.test'] });

const judge = async (p: SenderPolicy, headerLines: string[]) =>
  p.judge(await parseHeaders(Buffer.from(`${headerLines.join('\r\n')}\r\nSubject: hi\r\n\r\n`)));

describe('sender policy', () => {
  it('accepts mail our server marked dmarc=pass for the From domain', async () => {
    expect(
      await judge(policy, [
        'Authentication-Results: mx.example.test;\r\n spf=pass smtp.mailfrom=ann.test;\r\n dmarc=pass (p=reject) header.from=ann.test',
        'From: Ann <Ann@Ann.test>',
      ]),
    ).toEqual({ ok: true });
  });

  it('refuses a pass claimed under another authserv-id, a failed check, or none at all, and says which', async () => {
    const refused = (detail: string) => ({ ok: false, reason: 'not_authenticated', detail });
    const forged = ['Authentication-Results: mx.attacker.test; dmarc=pass header.from=ann.test', 'From: ann@ann.test'];
    expect(await judge(policy, forged)).toEqual(refused('topmost_not_ours'));
    const failed = ['Authentication-Results: mx.example.test; dmarc=fail header.from=ann.test', 'From: ann@ann.test'];
    expect(await judge(policy, failed)).toEqual(refused('dmarc_not_pass'));
    expect(await judge(policy, ['From: ann@ann.test'])).toEqual(refused('no_results'));
  });

  it('trusts only the topmost result from our server, since lower ones came with the mail', async () => {
    const smuggled = [
      'Authentication-Results: mx.example.test; dmarc=fail header.from=ann.test',
      'Authentication-Results: mx.example.test; dmarc=pass header.from=ann.test',
      'From: ann@ann.test',
    ];
    expect(await judge(policy, smuggled)).toEqual({ ok: false, reason: 'not_authenticated', detail: 'dmarc_not_pass' });
  });

  it('refuses a pass for another domain than the From address', async () => {
    expect(
      await judge(policy, ['Authentication-Results: mx.example.test; dmarc=pass header.from=evil.test', 'From: ann@ann.test']),
    ).toEqual({
      ok: false,
      reason: 'not_authenticated',
      detail: 'header_from_mismatch',
    });
  });

  it('never answers robots, bounces, lists, itself or mail with several senders', async () => {
    const cases: [string[], string][] = [
      [['From: ann@ann.test', 'Auto-Submitted: auto-replied'], 'auto_submitted'],
      [['From: ann@ann.test', 'X-Autoreply: yes'], 'auto_submitted'],
      [['From: ann@ann.test', 'Precedence: bulk'], 'bulk'],
      [['From: ann@ann.test', 'List-Id: News <news.ann.test>'], 'mailing_list'],
      [['From: ann@ann.test', 'Return-Path: <>'], 'bounce'],
      [['From: MAILER-DAEMON@ann.test'], 'bounce'],
      [['From: ann@ann.test', 'Content-Type: multipart/report; report-type=delivery-status; boundary=x'], 'bounce'],
      [['From: Service <SERVICE@example.test>'], 'own_address'],
      [['From: ann@ann.test, bob@bob.test'], 'no_sender'],
      // mailparser keeps the last From; a DMARC pass may have been for the first.
      [['From: mallory@evil.test', 'From: ann@ann.test'], 'several_from_fields'],
      [['To: ann@ann.test'], 'no_sender'],
    ];
    for (const [lines, reason] of cases) expect(await judge(open, lines), lines.join(' | ')).toEqual({ ok: false, reason });
    expect(await judge(open, ['From: ann@ann.test', 'Auto-Submitted: no', 'Return-Path: <ann@ann.test>'])).toEqual({ ok: true });
  });

  const verdictOf = async (c: AuthCase) => {
    const p = new SenderPolicy({ senderAuth: 'dmarc', authservId: c.authservId, ownAddresses: ['service@example.test'] });
    return (await judge(p, c.headers)).ok;
  };

  it("acts on real servers' passes and on nothing else they write (corpus)", async () => {
    expect(realWorld.length).toBeGreaterThanOrEqual(10);
    const wrong = [];
    for (const c of realWorld) if ((await verdictOf(c)) !== c.pass) wrong.push(c.name);
    expect(wrong).toEqual([]);
  });

  it('lets no forged Authentication-Results or From trick pass (corpus)', async () => {
    expect(hostile.length).toBeGreaterThanOrEqual(20);
    const passed = [];
    for (const c of hostile) if (await verdictOf(c)) passed.push(c.name);
    expect(passed).toEqual([]);
  });

  it('will not start with dmarc but without an authserv-id', () => {
    expect(() => new SenderPolicy({ senderAuth: 'dmarc', ownAddresses: [] })).toThrow(/MAIL_AUTHSERV_ID/);
  });
});
