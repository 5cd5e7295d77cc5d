import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TranscriptResult } from '../../src/domain/transcript';
import { spokenFile } from '../../test/support/audio';
import { startDovecot, type TestDovecot } from '../../test/support/dovecot';
import { startTestService, type TestService } from '../../test/support/service';
import { startSmtpSink, type SmtpSink, type SunkMail } from '../../test/support/smtp-sink';
import { buildMail, genuineMail } from './fixtures';
import { mailEnv } from '../../test/support/mail-env';

const SERVICE = 'transcripts@example.test';
const AUTHSERV = 'mx.example.test';
const SENTENCE = 'Please send the quarterly report to the finance team before Friday.';
const SECOND = 'The weather will be sunny tomorrow in the mountains.';

describe('email end to end with the real service and worker', () => {
  let dovecot: TestDovecot;
  let sink: SmtpSink;
  let svc: TestService;
  let memo: Buffer;
  let second: Buffer;

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mail-e2e-'));
    try {
      [memo, second] = await Promise.all([
        spokenFile(dir, 'memo.ogg', SENTENCE).then((p) => readFile(p)),
        spokenFile(dir, 'weather.mp3', SECOND, 'mp3').then((p) => readFile(p)),
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    [dovecot, sink] = await Promise.all([startDovecot({ user: SERVICE }), startSmtpSink()]);
    svc = await startTestService({
      env: {
        ...mailEnv(dovecot, sink, SERVICE),
        MAIL_SENDER_AUTH: 'dmarc',
        MAIL_AUTHSERV_ID: AUTHSERV,
      },
    });
  });
  afterAll(async () => {
    await svc?.stop();
    await Promise.all([dovecot?.close(), sink?.close()]);
  });

  const replyTo = (messageId: string, predicate: (m: SunkMail) => boolean = () => true) =>
    sink.waitForMail((m) => m.parsed.inReplyTo === messageId && predicate(m));
  const withResults = (m: SunkMail) => m.parsed.attachments.some((a) => a.filename?.endsWith('_result.json'));

  it('answers a spoken-audio attachment in the thread, with the transcript attached and the balance stated', async () => {
    await dovecot.append(
      await genuineMail(AUTHSERV, 'ann.test', {
        from: 'Ann <ann@ann.test>',
        to: SERVICE,
        subject: 'Voice memo',
        messageId: '<memo@ann.test>',
        references: ['<thread-root@ann.test>'],
        text: 'Could you transcribe this?',
        attachments: [{ filename: 'memo.ogg', content: memo, contentType: 'audio/ogg' }],
      }),
    );

    const quote = await replyTo('<memo@ann.test>');
    expect(quote.parsed.text).toContain('memo.ogg');
    const done = await replyTo('<memo@ann.test>', withResults);
    for (const m of [quote, done]) {
      expect(m.envelope.to).toEqual(['ann@ann.test']);
      expect(m.parsed.subject).toBe('Re: Voice memo');
      expect(m.parsed.references).toEqual(['<thread-root@ann.test>', '<memo@ann.test>']);
      expect(m.parsed.headers.get('auto-submitted')).toBe('auto-replied');
      expect(m.parsed.text).toMatch(/Balance: \d+ min( \d+ s)?/);
    }
    const names = done.parsed.attachments.map((a) => a.filename).sort();
    expect(names).toEqual(['memo.srt', 'memo_result.json']);
    const result = JSON.parse(
      done.parsed.attachments.find((a) => a.filename === 'memo_result.json')!.content.toString(),
    ) as TranscriptResult;
    expect(result).toMatchObject({ version: 1, file: 'memo.ogg', model: 'tiny.en' });
    for (const word of ['quarterly', 'report', 'finance', 'friday']) expect(result.text.toLowerCase()).toContain(word);
    expect(done.parsed.text!.toLowerCase()).toContain('finance');

    const order = await svc.waitForOrder((o) => o.senderId === 'ann@ann.test' && o.state === 'delivered');
    expect(order.channel).toBe('email');
    const balance = svc.balance('email', 'ann@ann.test');
    expect(balance).toBe(600 - Math.ceil(result.duration));
    expect(done.parsed.text).toContain(`Balance: ${Math.floor(balance / 60)} min`);
    expect(await dovecot.unseen()).toEqual([]);
  });

  it('spends nothing and sends nothing for a forged sender, and answers a mail without attachment with help', async () => {
    const forged = await buildMail(
      {
        from: 'bob@bob.test',
        to: SERVICE,
        subject: 'spend it',
        messageId: '<forged@evil.test>',
        attachments: [{ filename: 'memo.ogg', content: memo, contentType: 'audio/ogg' }],
      },
      // Claims a pass, but under another server's name: anyone can write that header.
      { 'Authentication-Results': 'mx.evil.test; dmarc=pass header.from=bob.test' },
    );
    const bounce = await genuineMail(
      AUTHSERV,
      'bob.test',
      { from: 'MAILER-DAEMON@bob.test', to: SERVICE, subject: 'Undelivered Mail', messageId: '<bounce@bob.test>', text: 'returned' },
      { 'Return-Path': '<>' },
    );
    await dovecot.append(forged);
    await dovecot.append(bounce);
    // Mail is taken in UID order, so once this is answered the two above have been judged.
    await dovecot.append(
      await genuineMail(AUTHSERV, 'carol.test', {
        from: 'carol@carol.test',
        to: SERVICE,
        subject: 'hello',
        messageId: '<hello@carol.test>',
        text: 'What is this address for?',
      }),
    );
    const help = await replyTo('<hello@carol.test>');
    expect(help.parsed.text).toContain('Please send an audio or video file');
    expect(help.parsed.text).toContain('"format: srt vtt"');
    expect(help.parsed.text).toContain('English-only model tiny.en');
    expect(help.parsed.subject).toBe('Re: hello');

    expect(svc.balance('email', 'bob@bob.test')).toBe(0);
    expect(svc.orders().filter((o) => o.senderId === 'bob@bob.test')).toEqual([]);
    expect(sink.mails.filter((m) => m.envelope.to.some((t) => t.endsWith('@bob.test')))).toEqual([]);
    while ((await dovecot.unseen()).length > 0) await new Promise((r) => setTimeout(r, 50));
  });

  it('takes choices from lines in the mail, refuses German on the English-only model, and keeps the rest for later mail', async () => {
    await dovecot.append(
      await genuineMail(AUTHSERV, 'fay.test', {
        from: 'fay@fay.test',
        to: SERVICE,
        subject: 'Settings language: de',
        messageId: '<settings@fay.test>',
        // The quoted line is an old choice from an earlier reply, not this mail's.
        text: 'Hello,\nformat: vtt\n\n> format: json',
      }),
    );
    const answer = await replyTo('<settings@fay.test>');
    expect(answer.parsed.text).toContain("I can't transcribe German");
    expect(answer.parsed.text).toContain('English-only model tiny.en');
    expect(answer.parsed.text).toContain('Your next transcripts come with these files: vtt.');

    await dovecot.append(
      await genuineMail(AUTHSERV, 'fay.test', {
        from: 'fay@fay.test',
        to: SERVICE,
        subject: 'Memo',
        messageId: '<memo@fay.test>',
        attachments: [{ filename: 'memo.ogg', content: memo, contentType: 'audio/ogg' }],
      }),
    );
    const done = await replyTo('<memo@fay.test>', (m) => m.parsed.attachments.length > 0);
    expect(done.parsed.attachments.map((a) => a.filename)).toEqual(['memo.vtt']);
    expect(done.parsed.attachments[0].content.toString()).toMatch(/^WEBVTT\n\n00:00:0\d\.\d{3} --> 00:00:0\d\.\d{3}\n.*quarterly/i);
    expect(done.parsed.text).toContain('Language: English.');
  });

  it('makes one order and one transcript reply of a mail with several recordings', async () => {
    await dovecot.append(
      await genuineMail(AUTHSERV, 'dave.test', {
        from: 'dave@dave.test',
        to: SERVICE,
        subject: 'Two clips',
        messageId: '<two@dave.test>',
        attachments: [
          { filename: 'memo.ogg', content: memo, contentType: 'audio/ogg' },
          { filename: 'weather.mp3', content: second, contentType: 'audio/mpeg' },
        ],
      }),
    );
    const done = await replyTo('<two@dave.test>', withResults);
    expect(done.parsed.attachments.map((a) => a.filename).sort()).toEqual([
      'memo.srt',
      'memo_result.json',
      'weather.srt',
      'weather_result.json',
    ]);
    const weather = JSON.parse(
      done.parsed.attachments.find((a) => a.filename === 'weather_result.json')!.content.toString(),
    ) as TranscriptResult;
    for (const word of ['weather', 'sunny', 'mountains']) expect(weather.text.toLowerCase()).toContain(word);
    await svc.waitForOrder((o) => o.senderId === 'dave@dave.test' && o.state === 'delivered');
    expect(svc.orders().filter((o) => o.senderId === 'dave@dave.test')).toHaveLength(1);
    expect(sink.mails.filter((m) => m.parsed.inReplyTo === '<two@dave.test>' && withResults(m))).toHaveLength(1);
  });
});
