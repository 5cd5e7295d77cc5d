import { parseAuthResults } from './auth-results';
import { headerValues, type MailHeaders } from './message';

/** Why a mail is left alone. Logged, never answered. */
export type Refusal =
  'no_sender' | 'several_from_fields' | 'own_address' | 'auto_submitted' | 'bulk' | 'mailing_list' | 'bounce' | 'not_authenticated';

export type Verdict = { ok: true } | { ok: false; reason: Refusal };

export interface SenderPolicyOptions {
  senderAuth: 'dmarc' | 'none';
  /** Required with `dmarc`: only this server's Authentication-Results count. */
  authservId?: string;
  /** The service's own addresses, lower-cased. */
  ownAddresses: string[];
}

/**
 * Decides whether a mail may be acted on. Answering a forged From would spend someone else's balance and
 * mail them unasked; answering an auto-reply, bounce or list mail starts mail loops. Both are refused.
 */
export class SenderPolicy {
  private readonly own: Set<string>;
  private readonly authservId?: string;

  constructor(private readonly options: SenderPolicyOptions) {
    if (options.senderAuth === 'dmarc' && !options.authservId) {
      throw new Error('MAIL_AUTHSERV_ID is required when MAIL_SENDER_AUTH is dmarc');
    }
    this.own = new Set(options.ownAddresses.map((a) => a.trim().toLowerCase()).filter(Boolean));
    this.authservId = options.authservId?.trim().toLowerCase();
  }

  /** The verdict on one mail's headers. */
  judge(headers: MailHeaders): Verdict {
    const from = headers.from?.address;
    if (!from || headers.fromCount !== 1) return { ok: false, reason: 'no_sender' };
    // mailparser keeps only the last From field, while a DMARC check may have judged the first: a second
    // From could then pass the sender check under an address the server never vouched for (RFC 5322 allows one).
    if (headerValues(headers, 'from').length !== 1) return { ok: false, reason: 'several_from_fields' };
    if (this.own.has(from)) return { ok: false, reason: 'own_address' };
    const loop = this.machineMail(headers, from);
    if (loop) return { ok: false, reason: loop };
    if (this.options.senderAuth === 'dmarc' && !this.dmarcPass(headers, from)) {
      return { ok: false, reason: 'not_authenticated' };
    }
    return { ok: true };
  }

  private machineMail(headers: MailHeaders, from: string): Refusal | undefined {
    const first = (name: string) => headerValues(headers, name)[0]?.trim().toLowerCase();
    const autoSubmitted = first('auto-submitted');
    if (autoSubmitted && !/^no\b/.test(autoSubmitted)) return 'auto_submitted';
    // Vacation responders that predate RFC 3834 mark themselves this way.
    if (first('x-autoreply') || first('x-autorespond')) return 'auto_submitted';
    const precedence = first('precedence');
    if (precedence && /^(bulk|junk|list|auto_reply)\b/.test(precedence)) return 'bulk';
    if (headerValues(headers, 'list-id').length > 0) return 'mailing_list';
    const returnPath = first('return-path');
    if (returnPath !== undefined && /^<\s*>$/.test(returnPath)) return 'bounce';
    const local = from.split('@')[0];
    if (local === 'mailer-daemon' || local === 'postmaster') return 'bounce';
    if (/^multipart\/report\b/.test(first('content-type') ?? '')) return 'bounce';
    return undefined;
  }

  /**
   * Only the topmost Authentication-Results carrying our authserv-id counts: the receiving server prepends
   * its own, and any below it (or from other ids) arrived with the mail and may be forged.
   */
  private dmarcPass(headers: MailHeaders, from: string): boolean {
    const ours = headerValues(headers, 'authentication-results')
      .map(parseAuthResults)
      .find((r) => r?.authservId === this.authservId);
    if (!ours) return false;
    const domain = from.slice(from.lastIndexOf('@') + 1);
    return ours.results.some((r) => r.method === 'dmarc' && r.result === 'pass' && (r.props['header.from'] ?? domain) === domain);
  }
}
