/**
 * Replies under a mail server's connection limit: a burst of replies goes through the pool's few connections
 * instead of opening one per mail and being refused with 421 beyond the server's limit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log';
import { startSmtpSink, type SmtpSink } from '../../test/support/smtp-sink';
import { SMTP_MAX_CONNECTIONS, SmtpReplies } from '../replies';

let sink: SmtpSink;
let replies: SmtpReplies;

beforeAll(async () => {
  sink = await startSmtpSink({ maxClients: SMTP_MAX_CONNECTIONS });
  replies = new SmtpReplies({
    host: sink.host,
    port: sink.port,
    secure: false,
    from: 'Service <service@example.test>',
    log: createLogger('silent'),
  });
});
afterAll(async () => {
  replies?.close();
  await sink?.close();
});

describe('SMTP connection limits', () => {
  it('delivers 60 replies sent at once over at most the pool size of connections', async () => {
    const sends = Array.from({ length: 60 }, (_, n) =>
      replies.send(
        { channel: 'email', chatId: `user${n}@example.test`, messageId: `<m${n}@example.test>`, subject: 'voice' },
        { key: `k${n}`, kind: 'notice', text: `Reply ${n}`, balanceSeconds: 60 },
      ),
    );
    await Promise.all(sends);
    const mails = await sink.waitFor(60);
    expect(new Set(mails.map((m) => m.envelope.to[0])).size).toBe(60);
    expect(sink.peakConnections()).toBeLessThanOrEqual(SMTP_MAX_CONNECTIONS);
  });
});
