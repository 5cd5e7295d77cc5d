import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Writable } from 'node:stream';
import { createLogger, silentLogger, type Logger } from '../../src/log';
import { AttachmentRefusal, DeliveryError } from '../../src/ports/channel';
import { startDovecot, type TestDovecot } from '../../test/support/dovecot';
import { startSmtpSink, type SmtpSink } from '../../test/support/smtp-sink';
import type { MailChannel } from '../channel';
import { createMailChannel } from '../index';
import type { MailOptions } from '../options';
import { buildMail, genuineMail, next, nextProcessed, passedAuth, prependField, recordingHandler } from './fixtures';

const SERVICE = 'service@example.test';
const AUTHSERV = 'mx.example.test';
const passed = (domain: string) => passedAuth(AUTHSERV, domain);

let dovecot: TestDovecot;
let sink: SmtpSink;
const channels: MailChannel[] = [];

beforeAll(async () => {
  [dovecot, sink] = await Promise.all([startDovecot({ user: SERVICE }), startSmtpSink({ refuse: ['gone@ann.test'] })]);
});
afterEach(async () => {
  await Promise.all(channels.splice(0).map((c) => c.stop()));
});
afterAll(async () => {
  await Promise.all([dovecot?.close(), sink?.close()]);
});

function channel(overrides: Partial<MailOptions> = {}): MailChannel {
  const c = createMailChannel({
    imap: { host: dovecot.host, port: dovecot.port, secure: false, user: dovecot.user, password: dovecot.password, mailbox: 'INBOX' },
    smtp: { host: sink.host, port: sink.port, secure: false },
    from: `Transcripts <${SERVICE}>`,
    senderAuth: 'dmarc',
    authservId: AUTHSERV,
    maxFileBytes: 1024 * 1024,
    log: silentLogger,
    reconnect: { minMs: 100, maxMs: 1_000 },
    ...overrides,
  });
  channels.push(c);
  return c;
}

const audio = randomBytes(300_000);

/** A logger whose JSON lines the test reads: what the operator would see. */
function logLines(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sinkStream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger('info', sinkStream), lines };
}

describe('email channel intake', () => {
  it('hands a mail with an attachment on as one message with a streaming attachment, flagged seen only once recorded', async () => {
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    const rec = recordingHandler({ hold });
    const c = channel();
    await dovecot.append(
      await genuineMail(AUTHSERV, 'ann.test', {
        from: 'Ann Example <Ann@Ann.test>',
        to: SERVICE,
        subject: 'Re: Interview',
        messageId: '<first@ann.test>',
        references: ['<root@ann.test>'],
        text: 'Please transcribe.',
        attachments: [{ filename: 'interview.mp3', content: audio, contentType: 'audio/mpeg' }],
      }),
    );
    const processed = nextProcessed(c);
    await c.start(rec.handler);
    await rec.entered;
    // The handler has not resolved yet, so the order is not recorded: the mail must still be unseen.
    expect((await dovecot.unseen()).length).toBe(1);
    release();
    const [got] = await rec.waitFor(1);
    await processed;
    expect(await dovecot.unseen()).toEqual([]);
    expect(got.message).toMatchObject({
      channel: 'email',
      id: 'mail:ann@ann.test:<first@ann.test>',
      sender: { id: 'ann@ann.test', name: 'Ann Example' },
      replyTo: {
        channel: 'email',
        chatId: 'ann@ann.test',
        messageId: '<first@ann.test>',
        subject: 'Re: Interview',
        references: ['<root@ann.test>'],
      },
      text: 'Please transcribe.',
    });
    expect(got.files).toHaveLength(1);
    expect(got.files[0]).toMatchObject({ name: 'interview.mp3', mimeType: 'audio/mpeg' });
    expect(got.files[0].bytes!.equals(audio)).toBe(true);
    // Temp files are gone once the handler resolved.
    await expect(
      new Promise(
        (resolve, reject) => void got.message.attachments[0].open().then((s) => s.on('error', reject).on('data', resolve), reject),
      ),
    ).rejects.toThrow(/ENOENT/);
  });

  it('gathers several attachments into one message, documents too, for intake to take or name', async () => {
    const rec = recordingHandler();
    const c = channel();
    await dovecot.append(
      await genuineMail(AUTHSERV, 'ann.test', {
        from: 'ann@ann.test',
        to: SERVICE,
        subject: 'Three files',
        messageId: '<several@ann.test>',
        text: 'see attached',
        attachments: [
          { filename: 'a.ogg', content: audio.subarray(0, 1000), contentType: 'audio/ogg' },
          { filename: 'notes.pdf', content: Buffer.from('%PDF-1.4'), contentType: 'application/pdf' },
          { filename: 'b.m4a', content: audio.subarray(1000, 5000), contentType: 'application/octet-stream' },
          { filename: 'clip.mov', content: audio.subarray(5000, 9000), contentType: 'video/quicktime' },
        ],
      }),
    );
    await c.start(rec.handler);
    const [got] = await rec.waitFor(1);
    expect(got.files.map((f) => f.name)).toEqual(['a.ogg', 'notes.pdf', 'b.m4a', 'clip.mov']);
    expect(got.files[2].bytes!.equals(audio.subarray(1000, 5000))).toBe(true);
  });

  it('passes a mail without attachments on with none, so the core can answer with help', async () => {
    const rec = recordingHandler();
    const c = channel();
    await dovecot.append(
      await genuineMail(AUTHSERV, 'ann.test', {
        from: 'ann@ann.test',
        to: SERVICE,
        subject: 'Hello?',
        messageId: '<plain@ann.test>',
        text: 'What do you do?',
      }),
    );
    await c.start(rec.handler);
    const [got] = await rec.waitFor(1);
    expect(got.message.attachments).toEqual([]);
    expect(got.message.text).toBe('What do you do?');
  });

  it('refuses an attachment over the size limit when opened, not before', async () => {
    const rec = recordingHandler();
    const c = channel({ maxFileBytes: 100_000 });
    await dovecot.append(
      await genuineMail(AUTHSERV, 'ann.test', {
        from: 'ann@ann.test',
        to: SERVICE,
        subject: 'big',
        messageId: '<big@ann.test>',
        attachments: [{ filename: 'long.wav', content: audio, contentType: 'audio/wav' }],
      }),
    );
    await c.start(rec.handler);
    const [got] = await rec.waitFor(1);
    expect(got.files).toEqual([
      {
        name: 'long.wav',
        mimeType: 'audio/wav',
        refusal: `${AttachmentRefusal.name}:too_large: larger than the 98 KB limit, so I skipped it`,
      },
    ]);
  });

  it('acts on nothing from a forged sender, robots, bounces, lists or itself, and marks them seen', async () => {
    const rec = recordingHandler();
    const c = channel();
    const attach = [{ filename: 'x.mp3', content: audio.subarray(0, 100), contentType: 'audio/mpeg' }];
    const ignored: [Record<string, string>, string][] = [
      [{ 'Authentication-Results': `mx.attacker.test; dmarc=pass header.from=ann.test` }, 'ann@ann.test'],
      [{ 'Authentication-Results': `${AUTHSERV}; dmarc=fail header.from=ann.test` }, 'ann@ann.test'],
      [{}, 'ann@ann.test'],
      [{ 'Authentication-Results': passed('ann.test'), 'Auto-Submitted': 'auto-replied' }, 'ann@ann.test'],
      [{ 'Authentication-Results': passed('ann.test'), 'Return-Path': '<>' }, 'ann@ann.test'],
      [{ 'Authentication-Results': passed('ann.test') }, 'MAILER-DAEMON@ann.test'],
      [{ 'Authentication-Results': passed('ann.test'), Precedence: 'bulk' }, 'ann@ann.test'],
      [{ 'Authentication-Results': passed('ann.test'), 'List-Id': 'News <news.ann.test>' }, 'ann@ann.test'],
      [{ 'Authentication-Results': passed('example.test') }, SERVICE],
    ];
    for (const [i, [headers, from]] of ignored.entries()) {
      await dovecot.append(
        await buildMail({ from, to: SERVICE, subject: `ignored ${i}`, messageId: `<ignored${i}@ann.test>`, attachments: attach }, headers),
      );
    }
    // Handled in UID order, so once this one arrives every mail before it has been judged.
    await dovecot.append(
      await genuineMail(AUTHSERV, 'ann.test', {
        from: 'ann@ann.test',
        to: SERVICE,
        subject: 'genuine',
        messageId: '<genuine@ann.test>',
        attachments: attach,
      }),
    );
    await c.start(rec.handler);
    await rec.waitFor(1);
    while ((await dovecot.unseen()).length > 0) await new Promise((r) => setTimeout(r, 50));
    expect(rec.received.map((r) => r.message.id)).toEqual(['mail:ann@ann.test:<genuine@ann.test>']);
    expect(sink.mails.filter((m) => m.envelope.to.includes('ann@ann.test'))).toEqual([]);
  });

  it("takes no forged dmarc=pass smuggled into our server's own field in a quoted envelope sender, and logs why", async () => {
    const rec = recordingHandler();
    const log = logLines();
    const c = channel({ log: log.logger });
    const attach = [{ filename: 'x.mp3', content: audio.subarray(0, 100), contentType: 'audio/mpeg' }];
    // What a receiving server writes for mail from evil.test's envelope sender `"x;dmarc=pass header.from=victim.test "@evil.test`
    // with `From: victim@victim.test`: SPF passes for evil.test, DMARC fails for victim.test.
    const forged =
      `${AUTHSERV}; spf=pass smtp.mailfrom="x;dmarc=pass header.from=victim.test "@evil.test;` +
      ' dkim=none; dmarc=fail (p=reject) header.from=victim.test';
    const forgedMail = await buildMail({
      from: 'victim@victim.test',
      to: SERVICE,
      subject: 'forged',
      messageId: '<forged@evil.test>',
      attachments: attach,
    });
    await dovecot.append(prependField(forgedMail, 'Authentication-Results', forged));
    await dovecot.append(
      await genuineMail(AUTHSERV, 'ann.test', {
        from: 'ann@ann.test',
        to: SERVICE,
        subject: 'genuine',
        messageId: '<after-forged@ann.test>',
        attachments: attach,
      }),
    );
    await c.start(rec.handler);
    await rec.waitFor(1);
    while ((await dovecot.unseen()).length > 0) await new Promise((r) => setTimeout(r, 50));
    expect(rec.received.map((r) => r.message.id)).toEqual(['mail:ann@ann.test:<after-forged@ann.test>']);
    expect(log.lines.filter((l) => l.msg === 'mail left unanswered')).toEqual([
      expect.objectContaining({ reason: 'not_authenticated', detail: 'dmarc_not_pass' }),
    ]);
    expect(sink.mails.filter((m) => m.envelope.to.includes('victim@victim.test'))).toEqual([]);
  });

  it('warns once when the first mail carries no Authentication-Results with our id, naming the ids it did carry', async () => {
    const rec = recordingHandler();
    const log = logLines();
    const c = channel({ log: log.logger });
    for (const [n, id] of ['mx.other.test', 'mx.other.test'].entries()) {
      await dovecot.append(
        await buildMail(
          { from: 'ann@ann.test', to: SERVICE, subject: 'other id', messageId: `<other-id${n}@ann.test>`, text: 'hi' },
          { 'Authentication-Results': passedAuth(id, 'ann.test') },
        ),
      );
    }
    await dovecot.append(
      await genuineMail(AUTHSERV, 'ann.test', {
        from: 'ann@ann.test',
        to: SERVICE,
        subject: 'ours',
        messageId: '<our-id@ann.test>',
        text: 'hi',
      }),
    );
    await c.start(rec.handler);
    await rec.waitFor(1);
    const warnings = log.lines.filter((l) => l.level === 40);
    expect(warnings).toEqual([expect.objectContaining({ authservId: AUTHSERV, seen: ['mx.other.test'] })]);
    expect(warnings[0].msg).toContain('MAIL_AUTHSERV_ID');
  });

  it('leaves a mail unseen when the handler fails and takes it in on a later pass', async () => {
    let failures = 1;
    const rec = recordingHandler({ fail: () => failures-- > 0 });
    const c = channel();
    await dovecot.append(
      await genuineMail(AUTHSERV, 'ann.test', {
        from: 'ann@ann.test',
        to: SERVICE,
        subject: 'retry',
        messageId: '<retry@ann.test>',
        text: 'x',
      }),
    );
    const firstTry = nextProcessed(c, 'retry');
    await c.start(rec.handler);
    await firstTry;
    expect((await dovecot.unseen()).length).toBe(1);
    // A new mail starts the next pass at once, instead of waiting for the retry timer.
    await dovecot.append(
      await genuineMail(AUTHSERV, 'ann.test', {
        from: 'ann@ann.test',
        to: SERVICE,
        subject: 'nudge',
        messageId: '<nudge@ann.test>',
        text: 'y',
      }),
    );
    const got = await rec.waitFor(2);
    expect(got.map((r) => r.message.id).sort()).toEqual(['mail:ann@ann.test:<nudge@ann.test>', 'mail:ann@ann.test:<retry@ann.test>']);
  });

  it('survives the server going away during IDLE: mail delivered meanwhile is taken in once, none twice', async () => {
    const rec = recordingHandler();
    const c = channel();
    const mail = (n: string) =>
      genuineMail(AUTHSERV, 'ann.test', { from: 'ann@ann.test', to: SERVICE, subject: n, messageId: `<${n}@ann.test>`, text: n });
    await c.start(rec.handler);
    const firstDone = nextProcessed(c);
    await dovecot.append(await mail('before'));
    await firstDone;
    await rec.waitFor(1);
    while (!c.events.idling) await new Promise((r) => setTimeout(r, 50));

    const gone = next(c, 'disconnected');
    await dovecot.stop();
    await gone;
    await dovecot.deliver(await mail('meanwhile'));
    const back = next(c, 'connected');
    await dovecot.start();
    await back;
    await rec.waitFor(2);
    // And IDLE works on the new connection.
    await dovecot.append(await mail('after'));
    await rec.waitFor(3);
    // Flagging follows the handler; every mail ends up seen.
    while ((await dovecot.unseen()).length > 0) await new Promise((r) => setTimeout(r, 50));
    expect(rec.received.map((r) => r.message.id)).toEqual([
      'mail:ann@ann.test:<before@ann.test>',
      'mail:ann@ann.test:<meanwhile@ann.test>',
      'mail:ann@ann.test:<after@ann.test>',
    ]);
  });
});

describe('email channel replies', () => {
  it('replies in the thread with text, HTML, files and the balance, and drops transient updates', async () => {
    const c = channel();
    const to = {
      channel: 'email' as const,
      chatId: 'ann@ann.test',
      messageId: '<first@ann.test>',
      subject: 'Re: Interview',
      references: ['<root@ann.test>'],
    };
    const before = sink.mails.length;
    await c.send(to, { key: 'progress-1', kind: 'status', text: 'Transcribing…', transient: true });
    await c.send(to, {
      key: 'transcript-1',
      kind: 'transcript',
      text: 'Here is your transcript:\n\nHello <world> & all.',
      balanceSeconds: 560,
      files: [
        { name: 'interview_result.json', contentType: 'application/json', content: Buffer.from('{"text":"Hello"}') },
        { name: 'interview.srt', contentType: 'application/x-subrip', content: Buffer.from('1\n00:00:00,000 --> 00:00:01,000\nHello\n') },
      ],
    });
    const mails = await sink.waitFor(before + 1);
    expect(mails.length).toBe(before + 1);
    const { parsed, envelope } = mails[before];
    expect(envelope.to).toEqual(['ann@ann.test']);
    expect(parsed.subject).toBe('Re: Interview');
    expect(parsed.inReplyTo).toBe('<first@ann.test>');
    expect(parsed.references).toEqual(['<root@ann.test>', '<first@ann.test>']);
    expect(parsed.headers.get('auto-submitted')).toBe('auto-replied');
    expect(parsed.text).toContain('Hello <world> & all.');
    expect(parsed.text).toContain('Balance: 9 min 20 s');
    expect(parsed.html).toContain('Hello &lt;world&gt; &amp; all.');
    expect(parsed.html).toContain('Balance: 9 min 20 s');
    expect(parsed.attachments.map((a) => [a.filename, a.content.toString()])).toEqual([
      ['interview_result.json', '{"text":"Hello"}'],
      ['interview.srt', '1\n00:00:00,000 --> 00:00:01,000\nHello\n'],
    ]);
  });

  it('puts the payment link in text and HTML', async () => {
    const c = channel();
    const before = sink.mails.length;
    await c.send(
      { channel: 'email', chatId: 'ann@ann.test', messageId: '<q@ann.test>', subject: 'Lecture' },
      {
        key: 'quote-1',
        kind: 'quote',
        text: 'lecture.mp3: 42 min. $4.20 to go.',
        action: { label: 'Pay $4.20', url: 'http://127.0.0.1:1/pay?x=1&y=2' },
        balanceSeconds: 0,
      },
    );
    const { parsed } = (await sink.waitFor(before + 1))[before];
    expect(parsed.subject).toBe('Re: Lecture');
    expect(parsed.text).toContain('Pay $4.20: http://127.0.0.1:1/pay?x=1&y=2');
    expect(parsed.html).toContain('<a href="http://127.0.0.1:1/pay?x=1&amp;y=2">Pay $4.20</a>');
    expect(parsed.text).toContain('Balance: 0 s');
  });

  it('reports a refused recipient as a permanent delivery error', async () => {
    const c = channel();
    const err = await c
      .send(
        { channel: 'email', chatId: 'gone@ann.test', messageId: '<g@ann.test>' },
        { key: 'k-gone', kind: 'notice', text: 'hi', balanceSeconds: 1 },
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeliveryError);
    expect((err as DeliveryError).permanent).toBe(true);
  });
});
