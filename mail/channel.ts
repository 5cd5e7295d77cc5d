import type { Channel, MessageHandler, Reply, ReplyAddress } from '../src/ports/channel';
import { Inbound } from './inbound';
import { MailboxWatcher } from './mailbox';
import type { MailOptions } from './options';
import { SmtpReplies } from './replies';
import { SenderPolicy } from './sender-policy';

/** The mailbox as a channel: IMAP intake, sender checks, streamed attachments, threaded SMTP replies. */
export class MailChannel implements Channel {
  readonly name = 'email' as const;
  readonly textLimit = 50_000;
  private readonly mailbox: MailboxWatcher;
  private readonly policy: SenderPolicy;
  private readonly replies: SmtpReplies;
  private online = false;

  constructor(private readonly options: MailOptions) {
    const own = [options.from, options.imap.user].map((a) => a.replace(/^.*<|>.*$/g, '').trim()).filter((a) => a.includes('@'));
    this.policy = new SenderPolicy({ senderAuth: options.senderAuth, authservId: options.authservId, ownAddresses: own });
    this.mailbox = new MailboxWatcher({ ...options.imap, tls: options.tls, log: options.log, reconnect: options.reconnect });
    this.replies = new SmtpReplies({
      ...options.smtp,
      from: options.from,
      maxMessageBytes: options.maxMessageBytes,
      tls: options.tls,
      log: options.log,
    });
    this.mailbox.on('connected', () => (this.online = true));
    this.mailbox.on('disconnected', () => (this.online = false));
  }

  /** False while the mailbox is not connected (it reconnects in the background). */
  connected(): boolean {
    return this.online;
  }

  /** The mailbox's lifecycle events (`connected`, `disconnected`, `processed`), for health checks and tests. */
  get events(): MailboxWatcher {
    return this.mailbox;
  }

  async start(onMessage: MessageHandler): Promise<void> {
    const { maxFileBytes, tmpDir, log } = this.options;
    const inbound = new Inbound({ onMessage, policy: this.policy, maxFileBytes, tmpDir, log });
    await this.mailbox.start((mail) => inbound.handleMail(mail));
  }

  async stop(): Promise<void> {
    await this.mailbox.stop();
    this.replies.close();
  }

  async send(to: ReplyAddress, reply: Reply): Promise<void> {
    // Progress updates would be one mail each; the quote and the transcript are the ones that matter.
    if (reply.transient) return;
    await this.replies.send(to, reply);
  }
}
