import type { MessageStructureObject } from 'imapflow';
import type { Channel, IncomingMessage, MessageHandler, Reply, ReplyAddress } from '../src/ports/channel';
import { ImapIntake, type FetchedMail, type MailOutcome } from './imap-intake';
import type { MailOptions } from './options';
import { parseBody } from './parse-body';
import { parseHeaders } from './parse-headers';
import { SenderPolicy } from './sender-policy';
import { SmtpReplies } from './smtp-replies';

/** Text parts larger than this are not parsed: mailparser holds text in memory, and no person writes that much. */
const MAX_TEXT_BYTES = 4 * 1024 * 1024;

/** Bytes of the text parts that are not attachments, as the server's BODYSTRUCTURE declares them. */
function inlineTextBytes(node: MessageStructureObject | undefined): number {
  if (!node) return 0;
  if (node.childNodes?.length) return node.childNodes.reduce((sum, child) => sum + inlineTextBytes(child), 0);
  const isText = node.type?.toLowerCase().startsWith('text/');
  return isText && node.disposition?.toLowerCase() !== 'attachment' ? (node.size ?? 0) : 0;
}

/** A body that failed to parse this often is given up on, so one malformed mail cannot be fetched forever. */
const MAX_BODY_ATTEMPTS = 5;

/** The mailbox as a channel: IMAP intake, sender checks, streamed attachments, threaded SMTP replies. */
export class MailChannel implements Channel {
  readonly name = 'email' as const;
  readonly textLimit = 50_000;
  private readonly intake: ImapIntake;
  private readonly policy: SenderPolicy;
  private readonly replies: SmtpReplies;
  private readonly bodyFailures = new Map<number, number>();

  constructor(private readonly options: MailOptions) {
    const own = [options.from, options.imap.user].map((a) => a.replace(/^.*<|>.*$/g, '').trim()).filter((a) => a.includes('@'));
    this.policy = new SenderPolicy({ senderAuth: options.senderAuth, authservId: options.authservId, ownAddresses: own });
    this.intake = new ImapIntake({ ...options.imap, tls: options.tls, log: options.log, reconnect: options.reconnect });
    this.replies = new SmtpReplies({ ...options.smtp, from: options.from, tls: options.tls, log: options.log });
  }

  /** Intake's lifecycle events (`connected`, `disconnected`, `processed`), for health checks and tests. */
  get events(): ImapIntake {
    return this.intake;
  }

  async start(onMessage: MessageHandler): Promise<void> {
    await this.intake.start((mail) => this.process(mail, onMessage));
  }

  async stop(): Promise<void> {
    await this.intake.stop();
    this.replies.close();
  }

  async send(to: ReplyAddress, reply: Reply): Promise<void> {
    // Progress updates would be one mail each; the quote and the transcript are the ones that matter.
    if (reply.transient) return;
    await this.replies.send(to, reply);
  }

  private async process(mail: FetchedMail, onMessage: MessageHandler): Promise<MailOutcome> {
    const { log } = this.options;
    let headers;
    try {
      headers = await parseHeaders(mail.header);
    } catch (err) {
      log.error({ uid: mail.uid, err: (err as Error).message }, 'mail header unreadable; left unanswered');
      return 'seen';
    }
    const verdict = this.policy.judge(headers);
    if (!verdict.ok) {
      log.info({ uid: mail.uid, reason: verdict.reason }, 'mail left unanswered');
      return 'seen';
    }
    const textBytes = inlineTextBytes(mail.structure);
    if (textBytes > MAX_TEXT_BYTES) {
      log.warn({ uid: mail.uid, textBytes }, 'mail text too large; left unanswered');
      return 'seen';
    }
    let body;
    try {
      body = await parseBody(await mail.source(), { maxFileBytes: this.options.maxFileBytes, tmpDir: this.options.tmpDir });
      this.bodyFailures.delete(mail.uid);
    } catch (err) {
      // Usually a dropped connection (retry helps); a mail that keeps failing is malformed.
      const attempts = (this.bodyFailures.get(mail.uid) ?? 0) + 1;
      this.bodyFailures.set(mail.uid, attempts);
      if (attempts < MAX_BODY_ATTEMPTS) throw err;
      this.bodyFailures.delete(mail.uid);
      log.error({ uid: mail.uid, attempts, err: (err as Error).message }, 'mail body unreadable; left unanswered');
      return 'seen';
    }
    try {
      const from = headers.from!.address;
      const message: IncomingMessage = {
        channel: 'email',
        // The sender is part of the id: someone reusing another's Message-ID cannot make their mail a "duplicate".
        id: headers.messageId ? `mail:${from}:${headers.messageId}` : `mail:${from}:sha256:${body.rawHash}`,
        sender: { id: from, name: headers.from!.name },
        replyTo: {
          channel: 'email',
          chatId: from,
          messageId: headers.messageId ?? '',
          subject: headers.subject,
          references: headers.references,
        },
        attachments: body.attachments,
        text: body.text,
      };
      await onMessage(message);
      log.info({ uid: mail.uid, messageId: message.id, attachments: body.attachments.length }, 'mail taken in');
      return 'seen';
    } finally {
      await body.cleanup();
    }
  }
}

/** Creates the email channel (docs/configuration.md: IMAP_*, SMTP_*, MAIL_*). Throws on a dmarc policy without authserv-id. */
export function createMailChannel(options: MailOptions): MailChannel {
  return new MailChannel(options);
}
