import type { MessageStructureObject } from 'imapflow';
import type { Logger } from '../src/log';
import type { MessageHandler } from '../src/ports/channel';
import { parseBody } from './download';
import { MailTextTooLarge } from './text-budget';
import type { FetchedMail, MailOutcome } from './mailbox';
import { parseAuthResults } from './auth-results';
import { headerValues, parseHeaders, toIncoming, type MailHeaders } from './message';
import type { SenderPolicy } from './sender-policy';

/** Text parts larger than this are not parsed: mailparser holds text in memory, and no person writes that much. */
const MAX_TEXT_BYTES = 4 * 1024 * 1024;

/** A body that failed to parse this often is given up on, so one malformed mail cannot be fetched forever. */
const MAX_BODY_ATTEMPTS = 5;

/**
 * Bytes of the text parts that are not attachments, as the server's BODYSTRUCTURE declares them: a first check
 * before anything is downloaded. The server and mailparser may read a crafted structure differently, so the
 * parse counts again as it goes (`TextBudget`).
 */
function inlineTextBytes(node: MessageStructureObject | undefined): number {
  if (!node) return 0;
  if (node.childNodes?.length) return node.childNodes.reduce((sum, child) => sum + inlineTextBytes(child), 0);
  const isText = node.type?.toLowerCase().startsWith('text/');
  return isText && node.disposition?.toLowerCase() !== 'attachment' ? (node.size ?? 0) : 0;
}

/** What the inbound side needs from the channel. */
export interface InboundOptions {
  onMessage: MessageHandler;
  policy: SenderPolicy;
  /** Larger attachments are handed on as refusals, not stored. */
  maxFileBytes: number;
  tmpDir?: string;
  log: Logger;
}

/**
 * Turns one fetched mail into the core's message: the sender is judged on the header alone, before
 * any body is downloaded; the body is streamed, its recordings into temp files; then the core records
 * it. A failure to record throws, which leaves the mail unseen for the mailbox's next pass: the IMAP
 * server is the retry queue, so the mail survives a crash as well.
 */
export class Inbound {
  private readonly bodyFailures = new Map<number, number>();
  private firstMailSeen = false;

  constructor(private readonly options: InboundOptions) {}

  /**
   * A wrong MAIL_AUTHSERV_ID (or a server that checks nothing) leaves every mail unanswered in silence, so the first
   * mail is looked at: if no field carries our id, the operator is told once, with the ids that mail did carry.
   */
  private checkAuthservId(uid: number, headers: MailHeaders): void {
    const { policy, log } = this.options;
    if (this.firstMailSeen || !policy.checksDmarc) return;
    this.firstMailSeen = true;
    if (policy.carriesOurAuthservId(headers)) return;
    const seen = headerValues(headers, 'authentication-results').map((v) => parseAuthResults(v)?.authservId ?? 'unreadable');
    log.warn(
      { uid, authservId: policy.authservId, seen },
      'the first mail carries no Authentication-Results with MAIL_AUTHSERV_ID; if the receiving server writes another id, no mail will be answered (mail/README.md)',
    );
  }

  /** Handles one mail; `seen` once it is recorded or deliberately left unanswered. */
  async handleMail(mail: FetchedMail): Promise<MailOutcome> {
    const { log } = this.options;
    let headers;
    try {
      headers = await parseHeaders(mail.header);
    } catch (err) {
      log.error({ uid: mail.uid, err: (err as Error).message }, 'mail header unreadable; left unanswered');
      return 'seen';
    }
    this.checkAuthservId(mail.uid, headers);
    const verdict = this.options.policy.judge(headers);
    if (!verdict.ok) {
      log.info({ uid: mail.uid, reason: verdict.reason, detail: verdict.detail }, 'mail left unanswered');
      return 'seen';
    }
    const textBytes = inlineTextBytes(mail.structure);
    if (textBytes > MAX_TEXT_BYTES) {
      log.warn({ uid: mail.uid, textBytes }, 'mail text too large; left unanswered');
      return 'seen';
    }
    let body;
    try {
      const { maxFileBytes, tmpDir } = this.options;
      body = await parseBody(await mail.source(), { maxFileBytes, tmpDir, maxTextBytes: MAX_TEXT_BYTES });
      this.bodyFailures.delete(mail.uid);
    } catch (err) {
      // The same every time: the server's structure hid text parts that mailparser would hold.
      if (err instanceof MailTextTooLarge) {
        this.bodyFailures.delete(mail.uid);
        log.warn({ uid: mail.uid, limit: MAX_TEXT_BYTES }, 'mail text too large; left unanswered');
        return 'seen';
      }
      // Usually a dropped connection (retry helps); a mail that keeps failing is malformed.
      const attempts = (this.bodyFailures.get(mail.uid) ?? 0) + 1;
      this.bodyFailures.set(mail.uid, attempts);
      if (attempts < MAX_BODY_ATTEMPTS) throw err;
      this.bodyFailures.delete(mail.uid);
      log.error({ uid: mail.uid, attempts, err: (err as Error).message }, 'mail body unreadable; sender told');
      await this.tellUnreadable(mail, { ...headers, from: headers.from! });
      return 'seen';
    }
    try {
      // The sender policy passes only mail with exactly one From address.
      const message = toIncoming({ ...headers, from: headers.from! }, body);
      await this.options.onMessage(message);
      log.info({ uid: mail.uid, messageId: message.id, attachments: body.attachments.length }, 'mail taken in');
      return 'seen';
    } finally {
      await body.cleanup();
    }
  }

  /** Tells the sender of a mail whose body could not be fetched, through the core (once per mail, however often it is given up on). */
  private async tellUnreadable(mail: FetchedMail, headers: Parameters<typeof toIncoming>[0]): Promise<void> {
    const { id, replyTo } = toIncoming(headers, { rawHash: `uid-${mail.uid}`, text: '', attachments: [], cleanup: async () => {} });
    await this.options.onMessage.gaveUp?.({ channel: 'email', id, replyTo }).catch((error: unknown) => {
      this.options.log.error({ uid: mail.uid, err: (error as Error).message }, 'sender of an unreadable mail could not be told');
    });
  }
}
