import nodemailer, { type Transporter } from 'nodemailer';
import type { Logger } from '../src/log';
import { DeliveryError, type Reply, type ReplyAddress } from '../src/ports/channel';
import { composeReplies } from './compose';

export interface SmtpRepliesOptions {
  host: string;
  port: number;
  secure: boolean;
  user?: string;
  password?: string;
  from: string;
  /** Largest mail sent (`MAIL_MAX_BYTES`); larger replies are split across mails. */
  maxMessageBytes?: number;
  tls?: { rejectUnauthorized?: boolean };
  log: Logger;
  /** How long connecting, the greeting and each command may go unanswered; 30 s when absent. */
  timeoutMs?: number;
}

/** Default of `MAIL_MAX_BYTES`: under what common providers take (Gmail and Outlook: 25 MB, some 10 MB) once encoded. */
export const DEFAULT_MAIL_MAX_BYTES = 10 * 1024 * 1024;

/**
 * Connections the pool opens at most: mail providers refuse more than a few at once per client (421), and two
 * carry hundreds of replies a minute. Each is reused for up to 100 messages, then reopened (nodemailer's default,
 * within what servers allow per connection).
 */
export const SMTP_MAX_CONNECTIONS = 2;

/** How many reply keys are remembered to drop accidental repeats. */
const RECENT_KEYS = 10_000;

interface SmtpError extends Error {
  code?: string;
  command?: string;
  responseCode?: number;
}

/** Sends the core's replies as threaded emails through one pooled SMTP transport. */
export class SmtpReplies {
  private readonly transport: Transporter;
  private readonly recent = new Set<string>();

  constructor(private readonly options: SmtpRepliesOptions) {
    this.transport = nodemailer.createTransport({
      host: options.host,
      port: options.port,
      secure: options.secure,
      auth: options.user ? { user: options.user, pass: options.password ?? '' } : undefined,
      tls: options.tls,
      pool: true,
      maxConnections: SMTP_MAX_CONNECTIONS,
      maxMessages: 100,
      // nodemailer waits up to 10 minutes on a silent socket; a server that stops answering fails the send instead,
      // and the outbox tries it again later.
      connectionTimeout: options.timeoutMs ?? 30_000,
      greetingTimeout: options.timeoutMs ?? 30_000,
      socketTimeout: options.timeoutMs ?? 30_000,
    });
  }

  /**
   * Mails one reply, as several mails in its thread when its files go over the size limit (`composeReplies`);
   * a mail sent before is not sent again when the core retries the reply. Throws `DeliveryError`, permanent
   * when the recipient is refused.
   */
  async send(to: ReplyAddress, reply: Reply): Promise<void> {
    const maxBytes = this.options.maxMessageBytes ?? DEFAULT_MAIL_MAX_BYTES;
    for (const { key, mail } of composeReplies(to, reply, this.options.from, maxBytes)) {
      if (this.recent.has(key)) continue;
      try {
        const info = await this.transport.sendMail(mail);
        this.options.log.info({ key, kind: reply.kind, orderId: reply.orderId, messageId: info.messageId }, 'mail reply sent');
      } catch (err) {
        const e = err as SmtpError;
        // A refused recipient will be refused again; anything else (server down, auth, 4xx) may pass later.
        const permanent = e.code === 'EENVELOPE' || (e.command === 'RCPT TO' && (e.responseCode ?? 0) >= 500);
        throw new DeliveryError(`mail reply failed: ${e.code ?? ''} ${e.responseCode ?? ''}`.trim(), permanent, { cause: err });
      }
      this.recent.add(key);
      if (this.recent.size > RECENT_KEYS) this.recent.delete(this.recent.values().next().value as string);
    }
  }

  /** Closes pooled connections. */
  close(): void {
    this.transport.close();
  }
}
