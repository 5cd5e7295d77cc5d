import { domainToASCII } from 'node:url';
import { parseAuthResults } from './auth-results';
import { headerValues, type MailHeaders } from './message';

/** Why a mail is left alone. Logged, never answered. */
export type Refusal =
  'no_sender' | 'several_from_fields' | 'own_address' | 'auto_submitted' | 'bulk' | 'mailing_list' | 'bounce' | 'not_authenticated';

/** Why the receiving server's `Authentication-Results` did not vouch for `From`: for the operator's log. */
export type AuthFailure =
  | 'no_results'
  | 'unreadable'
  | 'topmost_not_ours'
  | 'no_dmarc_result'
  | 'several_dmarc_results'
  | 'dmarc_not_pass'
  | 'no_header_from'
  | 'header_from_mismatch';

export type Verdict = { ok: true } | { ok: false; reason: Refusal; detail?: AuthFailure };

/** A domain as DNS compares it: lower-case A-labels, no root dot; undefined when it is not one. */
function comparableDomain(domain: string): string | undefined {
  return domainToASCII(domain.trim().replace(/\.$/, '').toLowerCase()) || undefined;
}

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
  /** Our receiving server's authserv-id, lower-cased; set with `dmarc`. */
  readonly authservId?: string;

  constructor(private readonly options: SenderPolicyOptions) {
    if (options.senderAuth === 'dmarc' && !options.authservId) {
      throw new Error('MAIL_AUTHSERV_ID is required when MAIL_SENDER_AUTH is dmarc');
    }
    this.own = new Set(options.ownAddresses.map((a) => a.trim().toLowerCase()).filter(Boolean));
    this.authservId = options.authservId?.trim().toLowerCase();
  }

  /** True when mail must carry our server's DMARC pass. */
  get checksDmarc(): boolean {
    return this.options.senderAuth === 'dmarc';
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
    if (this.options.senderAuth === 'dmarc') {
      const failure = this.dmarcFailure(headers, from);
      if (failure) return { ok: false, reason: 'not_authenticated', detail: failure };
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

  /** Whether any `Authentication-Results` field carries our authserv-id: none at all on real mail means a wrong setting. */
  carriesOurAuthservId(headers: MailHeaders): boolean {
    return headerValues(headers, 'authentication-results').some((v) => parseAuthResults(v)?.authservId === this.authservId);
  }

  /**
   * Why the mail's authentication does not vouch for `from`, or undefined when it does. Only the topmost
   * `Authentication-Results` counts, and only with our authserv-id: the receiving server prepends its own, so
   * anything below it arrived with the mail and may be forged (the server must also strip incoming fields with its
   * id: docs/deployment.md). That field must hold exactly one DMARC result, a pass, whose `header.from` is the
   * `From` domain itself: a missing one says nothing about this From, and two results leave which one counts to
   * whoever wrote the second.
   */
  private dmarcFailure(headers: MailHeaders, from: string): AuthFailure | undefined {
    const topmost = headerValues(headers, 'authentication-results')[0];
    if (topmost === undefined) return 'no_results';
    const field = parseAuthResults(topmost);
    if (!field) return 'unreadable';
    if (field.authservId !== this.authservId) return 'topmost_not_ours';
    const dmarc = field.results.filter((r) => r.method === 'dmarc');
    if (dmarc.length === 0) return 'no_dmarc_result';
    if (dmarc.length > 1) return 'several_dmarc_results';
    if (dmarc[0].result !== 'pass') return 'dmarc_not_pass';
    const headerFrom = dmarc[0].props.filter((p) => p.ptype === 'header' && p.property === 'from');
    if (headerFrom.length !== 1) return 'no_header_from';
    // The last @: a quoted local part may hold another address ("ann@victim.test"@evil.test).
    const fromDomain = comparableDomain(from.slice(from.lastIndexOf('@') + 1));
    const vouched = headerFrom[0].value.includes('@') ? undefined : comparableDomain(headerFrom[0].value);
    return fromDomain && vouched === fromDomain ? undefined : 'header_from_mismatch';
  }
}
