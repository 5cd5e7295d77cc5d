/**
 * Transcripts too large for one mail: a reply whose files exceed the mail size limit (`MAIL_MAX_BYTES`) goes
 * out as several mails in the same thread, each under the limit, and a file larger than a mail comes in
 * parts that join back into it. Against a real SMTP server that refuses larger mails, as providers do.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log';
import type { OutgoingFile } from '../../src/ports/channel';
import { startSmtpSink, type SmtpSink } from '../../test/support/smtp-sink';
import { SmtpReplies } from '../replies';

const SERVER_LIMIT = 300_000;
const MAIL_LIMIT = 250_000;

let sink: SmtpSink;
let replies: SmtpReplies;

beforeAll(async () => {
  sink = await startSmtpSink({ maxMessageBytes: SERVER_LIMIT });
  replies = new SmtpReplies({
    host: sink.host,
    port: sink.port,
    secure: false,
    from: 'Service <service@example.test>',
    maxMessageBytes: MAIL_LIMIT,
    log: createLogger('silent'),
  });
});
afterAll(async () => {
  replies?.close();
  await sink?.close();
});

/** Text of `bytes` bytes in lines, as transcripts are. */
const lines = (bytes: number): Buffer => {
  const line = `${randomBytes(30).toString('hex')}\n`;
  return Buffer.from(line.repeat(Math.ceil(bytes / line.length)).slice(0, bytes));
};

describe('a transcript too large for one mail', () => {
  it('is split across mails in the thread, each under the limit, and every file arrives whole', async () => {
    const files: OutgoingFile[] = [
      { name: 'talk_result.json', contentType: 'application/json', content: lines(120_000) },
      { name: 'talk.srt', contentType: 'application/x-subrip', content: lines(120_000) },
      // Larger than a whole mail: it must come in parts.
      { name: 'talk.txt', contentType: 'text/plain', content: lines(400_000) },
    ];
    const to = { channel: 'email', chatId: 'ann@example.test', messageId: '<voice@example.test>', subject: 'talk' } as const;
    await replies.send(to, {
      key: 'transcript:big',
      kind: 'transcript',
      text: 'Done. Here is your transcript.',
      balanceSeconds: 90,
      files,
    });

    const mails = sink.mails.filter((m) => m.envelope.to[0] === 'ann@example.test');
    expect(mails.length).toBeGreaterThan(1);
    for (const mail of mails) {
      expect(mail.raw.length).toBeLessThanOrEqual(MAIL_LIMIT);
      expect(mail.parsed.inReplyTo).toBe('<voice@example.test>');
    }
    expect(new Set(mails.map((m) => m.parsed.messageId)).size).toBe(mails.length);
    expect(mails[0].parsed.text).toContain('Done. Here is your transcript.');
    expect(mails[0].parsed.text).toContain('Balance: 1 min 30 s');
    expect(mails[0].parsed.text).toMatch(new RegExp(`${mails.length} mails`));

    const attached = mails.flatMap((m) => m.parsed.attachments);
    for (const file of files) {
      const whole = attached.find((a) => a.filename === file.name);
      const parts = attached
        .filter((a) => a.filename?.startsWith(file.name.replace(/\.[^.]+$/, '.part')))
        .sort((a, b) => Number(/part(\d+)of/.exec(a.filename!)![1]) - Number(/part(\d+)of/.exec(b.filename!)![1]));
      const content = whole ? whole.content : Buffer.concat(parts.map((p) => p.content));
      expect(content.equals(file.content), file.name).toBe(true);
    }
    expect(attached.some((a) => /^talk\.part1of\d\.txt$/.test(a.filename ?? ''))).toBe(true);
  });

  it('sends a reply that fits as one mail, as before', async () => {
    const to = { channel: 'email', chatId: 'bob@example.test', messageId: '<short@example.test>', subject: 'short' } as const;
    const files = [{ name: 'short.srt', contentType: 'application/x-subrip', content: lines(2_000) }];
    await replies.send(to, { key: 'transcript:small', kind: 'transcript', text: 'Done.', balanceSeconds: 10, files });
    const mails = sink.mails.filter((m) => m.envelope.to[0] === 'bob@example.test');
    expect(mails).toHaveLength(1);
    expect(mails[0].parsed.attachments.map((a) => a.filename)).toEqual(['short.srt']);
  });
});
