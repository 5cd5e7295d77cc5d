import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../src/log';
import { text } from '../../src/messages';
import type { Checkout, CheckoutRequest, CheckoutStatus, InvoiceHandler, Payments, ReceivedPayment } from '../../src/ports/payments';
import { backoff } from '../../src/retry/backoff';
import type { HandlerRetry } from '../shared/record';
import { isBadRequest, type BotApi } from './api';
import type { TgMessage } from './message';

/** Telegram Stars' currency code. */
export const STARS_CURRENCY = 'XTR';

/** How long an invoice may be paid; its pre-checkout is refused after it. One hour, like a Stripe link. */
export const INVOICE_TTL_SECONDS = 60 * 60;

/** Telegram cancels a payment whose pre-checkout is not answered within 10 s; the answer must go out before. */
const PRE_CHECKOUT_DEADLINE_MS = 8_000;

/** The Bot API's PreCheckoutQuery, as far as it is read. */
export interface TgPreCheckoutQuery {
  id: string;
  from: { id: number };
  currency: string;
  total_amount: number;
  invoice_payload: string;
}

const PAYLOAD = /^order:([A-Za-z0-9_-]{1,100})$/;

/** The invoice payload naming an order (Telegram allows 1-128 bytes; it is never shown to the payer). */
export const invoicePayload = (orderId: string): string => `order:${orderId}`;

function orderIdOf(payload: string): string | undefined {
  return PAYLOAD.exec(payload)?.[1];
}

/**
 * The `Payments` port on Telegram Stars, the only way Telegram's rules let a bot sell a digital service:
 * an invoice in whole Stars (`XTR`) sent into the order's chat with the order id as its payload; every
 * pre-checkout answered (within Telegram's 10 s) with what the core says of the order; the money credited
 * only when `successful_payment` arrives, exactly once by its charge id; refunds with `refundStarPayment`.
 */
export class TelegramStars implements Payments {
  private handler?: InvoiceHandler;

  constructor(
    private readonly api: BotApi,
    private readonly log: Logger,
    private readonly retry: HandlerRetry,
  ) {}

  attach(handler: InvoiceHandler): void {
    this.handler = handler;
  }

  /**
   * Sends the order's invoice to its chat, as a reply to the recording. Not idempotent on Telegram's side:
   * a retry after a crash may send a second invoice for the same order, but its pre-checkout is refused once
   * either is paid, so the order is paid at most once (and a payment racing it becomes balance).
   */
  async createCheckout(request: CheckoutRequest): Promise<Checkout> {
    const to = request.replyTo;
    if (!to || to.channel !== 'telegram') throw new Error('a Stars invoice needs the Telegram chat of the order');
    if (request.currency.toUpperCase() !== STARS_CURRENCY || !Number.isInteger(request.amountCents) || request.amountCents < 1)
      throw new RangeError(`a Stars invoice is in whole Stars (XTR), got ${request.amountCents} ${request.currency}`);
    const replyTo = Number(to.messageId);
    const sent = await this.api.call<{ message_id: number }>('sendInvoice', {
      chat_id: to.chatId,
      title: 'Transcription',
      description: request.description.slice(0, 255),
      payload: invoicePayload(request.orderId),
      currency: STARS_CURRENCY,
      prices: [{ label: 'Transcription', amount: request.amountCents }],
      ...(Number.isSafeInteger(replyTo) ? { reply_parameters: { message_id: replyTo, allow_sending_without_reply: true } } : {}),
    });
    this.log.info({ orderId: request.orderId, stars: request.amountCents, invoiceMessageId: sent.message_id }, 'stars invoice sent');
    return { id: `invoice:${request.orderId}`, url: '', expiresAt: new Date(Date.now() + INVOICE_TTL_SECONDS * 1000) };
  }

  /**
   * Telegram cannot be asked about an invoice, and needs no closing: the sweep asks only after the invoice's
   * expiry, when every pre-checkout is refused, so no payment can start any more. A payment that started
   * before still arrives as `successful_payment` and is honoured as a late one.
   */
  async checkoutStatus(): Promise<CheckoutStatus> {
    return { state: 'expired', amountCents: 0, currency: 'xtr' };
  }

  /** `refundStarPayment` to the payer; a charge Telegram says was refunded already counts as done. */
  async refundPayment(payment: ReceivedPayment): Promise<void> {
    try {
      await this.api.call('refundStarPayment', {
        user_id: Number(payment.payerId),
        telegram_payment_charge_id: payment.chargeId,
      });
    } catch (error) {
      if (isBadRequest(error, /CHARGE_ALREADY_REFUNDED/i)) return;
      throw error;
    }
  }

  /** Answers a pre-checkout: ok only while the order awaits exactly this payment, else the reason for the payer. */
  async preCheckout(query: TgPreCheckoutQuery): Promise<void> {
    const orderId = orderIdOf(query.invoice_payload);
    let answer: { ok: true } | { ok: false; reason: string };
    try {
      if (!this.handler) answer = { ok: false, reason: text.invoice.busy };
      else if (!orderId) answer = { ok: false, reason: text.invoice.unknown };
      else answer = this.handler.payable(orderId, query.total_amount, query.currency);
    } catch (error) {
      this.log.error({ orderId, err: error }, 'stars pre-checkout could not be checked; refused');
      answer = { ok: false, reason: text.invoice.busy };
    }
    const signal = AbortSignal.timeout(PRE_CHECKOUT_DEADLINE_MS);
    await this.api.call(
      'answerPreCheckoutQuery',
      answer.ok
        ? { pre_checkout_query_id: query.id, ok: true }
        : { pre_checkout_query_id: query.id, ok: false, error_message: answer.reason },
      signal,
    );
    this.log.info({ orderId, stars: query.total_amount, payer: query.from.id, ok: answer.ok }, 'stars pre-checkout answered');
  }

  /**
   * Hands a `refunded_payment` to the core, which takes back what the charge bought once (whoever refunded
   * it). Always true: a failure is logged for the operator, who can record it with the refund command.
   */
  async refundedPayment(message: TgMessage): Promise<boolean> {
    const chargeId = message.refunded_payment!.telegram_payment_charge_id;
    try {
      const outcome = this.handler?.refunded ? await this.handler.refunded(chargeId) : 'ignored';
      this.log.info({ chargeId, outcome }, 'stars refund reported');
    } catch (error) {
      this.log.error({ chargeId, err: error }, 'stars refund not recorded; record it with the refund command');
    }
    return true;
  }

  /**
   * Hands a `successful_payment` to the core until it is recorded (the core may be briefly busy); the core
   * credits each charge once, so a replayed update credits nothing. False when stopping cut it short, so
   * the update is confirmed to Telegram only once recorded.
   */
  async successfulPayment(message: TgMessage, signal: AbortSignal): Promise<boolean> {
    const paid = message.successful_payment!;
    const orderId = orderIdOf(paid.invoice_payload);
    const chargeId = paid.telegram_payment_charge_id;
    if (!orderId || !message.from || !this.handler || paid.currency.toUpperCase() !== STARS_CURRENCY) {
      // Money arrived that cannot be matched: the operator must settle it (refund by its charge id).
      this.log.error(
        { chargeId, payload: paid.invoice_payload.slice(0, 128), currency: paid.currency },
        'stars payment for no order of mine; settle it by hand',
      );
      return true;
    }
    const payment: ReceivedPayment = {
      chargeId,
      orderId,
      payerId: String(message.from.id),
      amount: paid.total_amount,
      currency: paid.currency,
    };
    for (let attempt = 1; ; attempt++) {
      try {
        const outcome = await this.handler.received(payment);
        this.log.info({ orderId, chargeId, stars: paid.total_amount, outcome }, 'stars payment received');
        return true;
      } catch (error) {
        if (signal.aborted) return false;
        if (attempt >= this.retry.maxAttempts) {
          // Left unconfirmed is no better: Telegram would not send it again while this process runs.
          this.log.error({ orderId, chargeId, err: error }, 'stars payment not recorded after retries; settle it by hand');
          return true;
        }
        const wait = backoff(attempt, this.retry.baseDelayMs, this.retry.maxDelayMs);
        this.log.warn({ orderId, chargeId, attempt, waitMs: wait, err: error }, 'stars payment not recorded yet; retrying');
        try {
          await sleep(wait, undefined, { signal });
        } catch {
          return false;
        }
      }
    }
  }
}
