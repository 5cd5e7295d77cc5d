import type { TestDovecot } from './dovecot';
import type { SmtpSink } from './smtp-sink';

/**
 * The environment that points the service's email channel at a loopback dovecot and SMTP sink, as an operator's
 * `.env` would, with `address` as the service's own mailbox. Callers add the sender policy (`MAIL_SENDER_AUTH`).
 */
export function mailEnv(dovecot: TestDovecot, smtp: Pick<SmtpSink, 'host' | 'port'>, address: string): Record<string, string> {
  return {
    IMAP_HOST: dovecot.host,
    IMAP_PORT: String(dovecot.port),
    IMAP_SECURE: 'false',
    IMAP_USER: dovecot.user,
    IMAP_PASSWORD: dovecot.password,
    SMTP_HOST: smtp.host,
    SMTP_PORT: String(smtp.port),
    SMTP_SECURE: 'false',
    MAIL_FROM: `Transcripts <${address}>`,
  };
}
