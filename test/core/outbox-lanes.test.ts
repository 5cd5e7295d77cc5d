import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTelegramChannel } from '../../bots/telegram';
import { outbox } from '../../src/db/schema';
import { silentLogger } from '../../src/log';
import { enqueueReply } from '../../src/outbox/outbox';
import { startDovecot, type TestDovecot } from '../support/dovecot';
import { FakeTelegram } from '../support/fake-telegram';
import { startTestService, type TestService } from '../support/service';
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink';
import { mailEnv } from '../support/mail-env';

const SERVICE = 'transcripts@example.test';

describe('one reply lane per channel', () => {
  let dovecot: TestDovecot;
  let smtp: SmtpSink;
  let telegram: FakeTelegram;
  let svc: TestService;

  beforeAll(async () => {
    [dovecot, smtp, telegram] = await Promise.all([startDovecot({ user: SERVICE }), startSmtpSink(), new FakeTelegram().start()]);
    svc = await startTestService({
      env: {
        ...mailEnv(dovecot, smtp, SERVICE),
        MAIL_SENDER_AUTH: 'none',
      },
      channels: [
        createTelegramChannel({ token: telegram.token, apiRoot: telegram.url, log: silentLogger, polling: { timeoutSeconds: 5 } }),
      ],
    });
  });
  afterAll(async () => {
    smtp?.release();
    await svc?.stop();
    await Promise.all([dovecot?.close(), smtp?.close(), telegram?.stop()]);
  });

  it('Telegram replies go out while the mail server stalls on an email reply', async () => {
    smtp.stall();
    const { db, wakeups } = svc.service;
    enqueueReply(
      db,
      { channel: 'email', chatId: 'pat@example.test', messageId: '<memo-1@example.test>', subject: 'Board meeting' },
      { key: 'notice:mail-1', kind: 'notice', text: 'Your recording is being transcribed.' },
    );
    wakeups.emit('outbox');
    // The mail went to the server, which now hangs without answering.
    await until(() => smtp.stalled === 1, 30_000);

    const command = telegram.message({ text: '/balance' }, { id: 4242 });
    telegram.pushUpdate({ message: command });
    const answer = await telegram.waitFor(() => telegram.sent.find((m) => m.chat_id === '4242'), 60_000);
    expect(answer.text).toMatch(/balance|left|free/i);
    expect(smtp.mails).toHaveLength(0);
    expect(db.select().from(outbox).where(eq(outbox.key, 'notice:mail-1')).get()!.state).toBe('pending');

    // The mail server answers again: the email reply completes, once.
    smtp.release();
    const [mail] = await smtp.waitFor(1, 30_000);
    expect(mail.envelope.to).toEqual(['pat@example.test']);
    expect(mail.parsed.subject).toBe('Re: Board meeting');
    await until(() => db.select().from(outbox).where(eq(outbox.key, 'notice:mail-1')).get()!.state === 'sent', 10_000);
    expect(smtp.mails).toHaveLength(1);
  });
});

async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}
