import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMail } from '../../mail/test/fixtures';
import type { TestDovecot } from '../support/dovecot';
import type { FakeDiscord, FakeUser } from '../support/fake-discord';
import type { FakeTelegram } from '../support/fake-telegram';
import { ScriptedRunner } from '../support/runners';
import { startAllChannels, type AllChannels } from '../support/all-channels';
import { startTestService, type TestService } from '../support/service';
import type { SmtpSink } from '../support/smtp-sink';

/**
 * Cheap identities and floods, through the real channel loopbacks: free seconds per email domain and for
 * new Discord accounts, one per-user message limit for every channel, a second From field, and help
 * replies bounded per sender so an auto-responder cannot loop with the service.
 */

const SERVICE = 'transcripts@example.test';
const DISCORD_EPOCH_MS = 1_420_070_400_000n;
/** A Discord id minted `ageMs` ago. */
const snowflake = (ageMs: number) => String((BigInt(Date.now() - ageMs) - DISCORD_EPOCH_MS) << 22n);

describe('abuse bounds', () => {
  let telegram: FakeTelegram;
  let discord: FakeDiscord;
  let dovecot: TestDovecot;
  let sink: SmtpSink;
  let channels: AllChannels;
  let svc: TestService;

  beforeAll(async () => {
    channels = await startAllChannels(SERVICE);
    ({ telegram, discord, dovecot, sink } = channels);
    svc = await startTestService({
      runner: new ScriptedRunner(),
      env: {
        NEW_USER_FREE_SECONDS: '600',
        FREE_GRANTS_PER_EMAIL_DOMAIN_PER_DAY: '2',
        FREE_GRANTS_PER_FREE_MAIL_PROVIDER_PER_DAY: '3',
        DISCORD_MIN_ACCOUNT_AGE_DAYS: '7',
        USER_MESSAGES_PER_MINUTE: '3',
        HELP_REPLIES_PER_HOUR: '2',
        ...channels.env,
      },
    });
  });
  afterAll(async () => {
    await svc?.stop();
    await channels?.stop();
  });

  const mail = async (from: string, messageId: string, headers: Record<string, string> = {}) =>
    dovecot.append(await buildMail({ from, to: SERVICE, subject: 'hello', messageId, text: 'What do you do?' }, headers));
  const answerTo = (messageId: string) => sink.waitForMail((m) => m.parsed.inReplyTo === messageId, 60_000);
  const settle = () => new Promise((r) => setTimeout(r, 2_000));

  it('email: free seconds for two new addresses of a domain a day, then none; another domain still gets them', async () => {
    for (const n of [1, 2, 3]) await mail(`user${n}@cheap.test`, `<d${n}@cheap.test>`);
    await mail('someone@other.test', '<d1@other.test>');
    const balances = await Promise.all(['<d1@cheap.test>', '<d2@cheap.test>', '<d3@cheap.test>', '<d1@other.test>'].map(answerTo));
    expect(balances.map((m) => /Balance: (.*)/.exec(m.parsed.text ?? '')?.[1])).toEqual(['10 min', '10 min', '0 s', '10 min']);
    expect(svc.balance('email', 'user3@cheap.test')).toBe(0);
    // The help promises free time only to those who got it.
    expect(balances.map((m) => /free/i.test(m.parsed.text ?? ''))).toEqual([true, true, false, true]);
    expect(balances[2]!.parsed.text).toContain('You pay per minute of audio.');
  });

  it('email: a first mail of choices alone is no way around the cap', async () => {
    await dovecot.append(
      await buildMail({ from: 'user4@cheap.test', to: SERVICE, subject: 'format: vtt', messageId: '<d4@cheap.test>', text: 'format: vtt' }),
    );
    expect((await answerTo('<d4@cheap.test>')).parsed.text).toContain('Balance: 0 s');
    expect(svc.balance('email', 'user4@cheap.test')).toBe(0);
  });

  const balanceIn = (m: { parsed: { text?: string | false } }) => /Balance: (.*)/.exec(m.parsed.text || '')?.[1];

  it('email: subdomains count against their registrable domain', async () => {
    const senders = ['a@one.sub.test', 'b@two.sub.test', 'c@three.deep.sub.test'];
    for (const [n, from] of senders.entries()) await mail(from, `<s${n}@sub.test>`);
    const answers = await Promise.all(senders.map((_, n) => answerTo(`<s${n}@sub.test>`)));
    expect(answers.map(balanceIn)).toEqual(['10 min', '10 min', '0 s']);
  });

  it('email: a large free provider has its own larger budget, and +tags and Gmail dots are one mailbox', async () => {
    const senders = ['ann+1@gmail.com', 'a.nn+2@gmail.com', 'bob@gmail.com', 'cid@gmail.com', 'dan@gmail.com'];
    for (const [n, from] of senders.entries()) await mail(from, `<g${n}@gmail.com>`);
    const answers = await Promise.all(senders.map((_, n) => answerTo(`<g${n}@gmail.com>`)));
    // ann's second address is ann again (no second grant); bob and cid fit the provider's budget of 3, dan does not.
    expect(answers.map(balanceIn)).toEqual(['10 min', '10 min', '10 min', '10 min', '0 s']);
    expect(svc.balance('email', 'ann@gmail.com')).toBe(600);
    expect(svc.balance('email', 'a.nn+2@gmail.com')).toBe(0);
    // Replies still go to the address that wrote.
    expect(answers[1]!.envelope.to).toEqual(['a.nn+2@gmail.com']);
  });

  it('email: a +tag at an unknown domain may be another mailbox, so it stays its own identity', async () => {
    await mail('eve@plus.test', '<p1@plus.test>');
    await mail('eve+x@plus.test', '<p2@plus.test>');
    await Promise.all(['<p1@plus.test>', '<p2@plus.test>'].map(answerTo));
    expect([svc.balance('email', 'eve@plus.test'), svc.balance('email', 'eve+x@plus.test')]).toEqual([600, 600]);
  });

  it('email: a mail with two From fields is left unanswered; the next mail is answered', async () => {
    const raw = (await buildMail({ from: 'ann@ann.test', to: SERVICE, subject: 'hi', messageId: '<two-from@ann.test>', text: 'hi' }))
      .toString()
      .replace(/^From: /m, 'From: mallory@evil.test\r\nFrom: ');
    await dovecot.append(Buffer.from(raw));
    await mail('bea@bea.test', '<after@bea.test>');
    await answerTo('<after@bea.test>');
    await settle();
    expect(sink.mails.filter((m) => m.parsed.inReplyTo === '<two-from@ann.test>')).toEqual([]);
    expect(svc.balance('email', 'ann@ann.test')).toBe(0); // never even became a user
  });

  it('email: an auto-responder that ignores RFC 3834 gets two help replies an hour, then silence', async () => {
    for (const n of [1, 2, 3, 4]) await mail('robot@loop.test', `<loop${n}@loop.test>`);
    await mail('cara@cara.test', '<after-loop@cara.test>');
    // The two answers it is due, whenever the machine gets to them; then a quiet while in which a third would show.
    await Promise.all(['<after-loop@cara.test>', '<loop1@loop.test>', '<loop2@loop.test>'].map(answerTo));
    await settle();
    const answered = sink.mails.filter((m) => m.envelope.to.includes('robot@loop.test')).map((m) => m.parsed.inReplyTo);
    expect(answered.sort()).toEqual(['<loop1@loop.test>', '<loop2@loop.test>']);
  });

  it('Discord: an account made today gets no free seconds; an old one does', async () => {
    const young: FakeUser = { id: snowflake(60 * 60_000), username: 'fresh' };
    const old: FakeUser = { id: snowflake(30 * 86_400_000), username: 'seasoned' };
    const answer = async (user: FakeUser, name = 'balance') => {
      const id = discord.slashCommand(user, name);
      return (await discord.waitFor(() => discord.sent.find((m) => m.interactionId === id), 30_000)).content;
    };
    expect(await answer(young)).toBe('You have 0 s of transcription left.');
    expect(await answer(old)).toBe('You have 10 min of transcription left.');
    // Help and welcome promise free time only to the account that got it.
    expect(await answer(young, 'help')).not.toMatch(/free/i);
    expect(await answer(young, 'start')).not.toMatch(/free/i);
    expect(await answer(old, 'help')).toContain('New users get 10 min free');
  });

  it('Discord and Telegram share one per-user limit: three messages a minute, one warning, the rest dropped', async () => {
    const user: FakeUser = { id: snowflake(100 * 86_400_000), username: 'spammer' };
    const ids = [1, 2, 3, 4, 5].map(() => discord.slashCommand(user, 'balance'));
    await discord.waitFor(() => ids.filter((id) => discord.sent.some((m) => m.interactionId === id)).length >= 4, 30_000);
    await settle();
    const contents = ids.map((id) => discord.sent.find((m) => m.interactionId === id)?.content);
    expect(contents.filter((c) => c === 'You have 10 min of transcription left.')).toHaveLength(3);
    expect(contents.filter((c) => c?.startsWith('You are sending faster'))).toHaveLength(1);

    // Telegram's own adapter limit is wider here (its default); the core's three a minute still holds.
    const messages = [1, 2, 3, 4, 5].map(() => {
      const message = telegram.message({ text: '/balance' }, { id: 4001 });
      telegram.pushUpdate({ message });
      return message.message_id;
    });
    await telegram.waitFor(() => messages.filter((id) => telegram.sent.some((m) => m.reply_to === id)).length >= 4, 30_000);
    await settle();
    const texts = messages.map((id) => telegram.sent.find((m) => m.reply_to === id)?.text);
    expect(texts.filter((t) => t === 'You have 10 min of transcription left.')).toHaveLength(3);
    expect(texts.filter((t) => t?.startsWith('You are sending faster'))).toHaveLength(1);
  });
});
