import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { eq, like } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAdmin } from '../../../src/admin/cli';
import { adminTools } from '../../../src/app/admin-tools';
import { paymentMethodsFromConfig } from '../../../src/app/payments';
import { loadConfig } from '../../../src/config';
import { ledger } from '../../../src/db/schema';
import { silentLogger } from '../../../src/log';
import { refundInvoiceCharges } from '../../../src/orders/invoice-payments';
import { text } from '../../../src/messages';
import { spokenFile } from '../../../test/support/audio';
import { FakeTelegram, type SentMessage } from '../../../test/support/fake-telegram';
import { ScriptedRunner } from '../../../test/support/runners';
import { startTestService, type OrderRow, type TestService } from '../../../test/support/service';

/**
 * Telegram Stars end to end: the service as `npm start` builds it from the environment (Telegram on, Stars
 * the default method, no Stripe), the bot against a loopback Bot API server that speaks sendInvoice,
 * pre_checkout_query, successful_payment and refundStarPayment as Telegram does.
 */

const FREE = 2;
const STARS_PER_MINUTE = 5;
const STARS_MINIMUM = 20;

interface LogLine {
  msg: string;
  outcome?: string;
  chargeId?: string;
}

/** The Stars revenue and the count of payments, as GET /metrics shows them to Prometheus. */
async function starsRevenue(): Promise<{ stars: number; payments: number }> {
  const { registry } = await import('../../../src/metrics');
  const value = async (name: string, labels: Record<string, string> = {}) => {
    const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
    const values = (metric?.values ?? []) as { value: number; labels: Record<string, string | number> }[];
    return values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))?.value ?? 0;
  };
  return {
    stars: await value('transcribe_payments_revenue_cents_total', { currency: 'xtr' }),
    payments: await value('transcribe_payments_succeeded_total'),
  };
}

describe('Telegram Stars payments', () => {
  let dir: string;
  let telegram: FakeTelegram;
  let svc: TestService;
  let clip: Buffer;
  let env: Record<string, string>;
  const logLines: LogLine[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'stars-'));
    clip = await readFile(await spokenFile(dir, 'note.ogg', 'Please call me back about the invoice tomorrow morning.'));
    telegram = await new FakeTelegram().start();
    const logTo = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as LogLine);
        done();
      },
    });
    env = {
      TELEGRAM_BOT_TOKEN: telegram.token,
      TELEGRAM_API_ROOT: telegram.url,
      NEW_USER_FREE_SECONDS: String(FREE),
      STARS_PER_MINUTE: String(STARS_PER_MINUTE),
      STARS_MINIMUM: String(STARS_MINIMUM),
    };
    svc = await startTestService({
      env,
      runner: new ScriptedRunner('pending'),
      logTo,
    });
  });
  afterAll(async () => {
    await svc?.stop();
    await telegram?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Sends the clip as a voice note from `userId`; resolves with the order and its invoice once both are there. */
  async function voiceAwaitingStars(userId: number): Promise<{ message: { message_id: number }; order: OrderRow; invoice: SentMessage }> {
    const file = telegram.addFile(clip, `voice/file_${userId}.oga`);
    const message = telegram.message(
      {
        voice: { file_id: file.file_id, file_unique_id: file.file_unique_id, duration: 4, mime_type: 'audio/ogg', file_size: clip.length },
      },
      { id: userId },
    ) as Record<string, unknown> & { message_id: number };
    telegram.pushUpdate({ message });
    const invoice = await telegram.waitFor(
      () => telegram.sent.find((m) => m.method === 'sendInvoice' && m.chat_id === String(userId) && m.reply_to === message.message_id),
      60_000,
    );
    const order = await svc.waitForOrder((o) => o.senderId === String(userId) && o.state === 'awaiting_payment' && o.checkoutId !== null);
    return { message, order, invoice };
  }

  const textsTo = (chatId: number): string[] =>
    telegram.sent.filter((m) => m.chat_id === String(chatId)).flatMap((m) => [m.text ?? '', ...m.edits.map((e) => e.text)]);

  const purchases = (orderId: string) =>
    svc.service.db
      .select()
      .from(ledger)
      .where(like(ledger.key, `purchase:${orderId}:%`))
      .all();

  it('quotes in whole Stars with an invoice carrying the order id, and credits the payment once, however often it is reported', async () => {
    const { message, order, invoice } = await voiceAwaitingStars(501);
    const missing = order.seconds - FREE;
    const stars = Math.max(Math.ceil(missing / 60) * STARS_PER_MINUTE, STARS_MINIMUM);
    expect(invoice.invoice).toMatchObject({
      currency: 'XTR',
      payload: `order:${order.id}`,
      prices: [{ label: 'Transcription', amount: stars }],
    });
    expect(order).toMatchObject({ amountCents: stars, currency: 'xtr' });

    // The quote follows the invoice and points at it; a card link would put the bot at risk, so none is sent.
    const quote = await telegram.waitFor(() => telegram.sent.find((m) => m.reply_to === message.message_id && m.method === 'sendMessage'));
    expect(quote.text).toContain(`Pay ${stars} Stars with the invoice above`);
    expect(quote.reply_markup).toBeUndefined();
    expect(svc.balance('telegram', '501')).toBe(0);

    const asked = Date.now();
    const answer = await telegram.preCheckoutAnswer(telegram.preCheckout(invoice, { id: 501 }));
    expect(answer).toMatchObject({ ok: true });
    expect(answer.at - asked).toBeLessThan(10_000);

    const revenueBefore = await starsRevenue();
    const { chargeId, update } = telegram.successfulPayment(invoice, { id: 501 });
    telegram.pushUpdate(update);
    const paid = await svc.waitForOrder((o) => o.id === order.id && o.state !== 'awaiting_payment', 60_000);
    expect(['queued', 'running']).toContain(paid.state);
    const bought = Math.ceil((stars * 60) / STARS_PER_MINUTE);
    const balance = FREE + bought - order.seconds;
    expect(svc.balance('telegram', '501')).toBe(balance);
    await telegram.waitFor(() => textsTo(501).some((t) => t.startsWith('Payment received')));
    expect(purchases(order.id)).toMatchObject([
      { key: `purchase:${order.id}:${chargeId}`, seconds: bought, amountCents: stars, currency: 'xtr' },
    ]);

    // Telegram sends the same successful_payment again (a redelivered update, a second webhook): nothing more.
    telegram.pushUpdate(telegram.successfulPayment(invoice, { id: 501 }, chargeId).update);
    await telegram.waitFor(() =>
      logLines.some((l) => l.msg === 'stars payment received' && l.chargeId === chargeId && l.outcome === 'duplicate'),
    );
    expect(svc.balance('telegram', '501')).toBe(balance);
    expect(purchases(order.id)).toHaveLength(1);
    // The operator's revenue metric counts the Stars once, as Stars (no cents in XTR).
    expect(await starsRevenue()).toEqual({ stars: revenueBefore.stars + stars, payments: revenueBefore.payments + 1 });
    expect(textsTo(501).filter((t) => t.startsWith('Payment received'))).toHaveLength(1);

    // The invoice cannot be paid a second time: its order is settled.
    const again = await telegram.preCheckoutAnswer(telegram.preCheckout(invoice, { id: 501 }));
    expect(again).toMatchObject({ ok: false, error_message: text.invoice.settled });
  });

  it('refuses the pre-checkout of an order that expired in the meantime, and of an invoice whose amount or payload is not the quote', async () => {
    const { order, invoice } = await voiceAwaitingStars(502);
    const wrongAmount = await telegram.preCheckoutAnswer(telegram.preCheckout(invoice, { id: 502 }, { total_amount: 1 }));
    expect(wrongAmount).toMatchObject({ ok: false, error_message: text.invoice.changed });
    const forged = await telegram.preCheckoutAnswer(telegram.preCheckout(invoice, { id: 502 }, { invoice_payload: 'order:../../etc' }));
    expect(forged).toMatchObject({ ok: false, error_message: text.invoice.unknown });

    // Past the invoice's expiry the pre-checkout is refused even before the sweep has expired the order.
    const pastExpiry = svc.service.invoicePayments.payable(order.id, order.amountCents!, 'XTR', order.checkoutExpiresAt! + 1);
    expect(pastExpiry).toEqual({ ok: false, reason: text.invoice.expired });
    expect(svc.service.invoicePayments.payable(order.id, order.amountCents!, 'XTR', order.checkoutExpiresAt! - 1)).toEqual({ ok: true });

    // Two hours later the sweep finds the invoice past its expiry: the order expires and the held seconds go back.
    await svc.service.orderPayments.sweep(Date.now() + 2 * 60 * 60 * 1000);
    const expired = await svc.waitForOrder((o) => o.id === order.id && o.state === 'expired', 60_000);
    expect(expired.error).toBe('checkout expired');
    expect(svc.balance('telegram', '502')).toBe(FREE);

    const late = await telegram.preCheckoutAnswer(telegram.preCheckout(invoice, { id: 502 }));
    expect(late).toMatchObject({ ok: false, error_message: text.invoice.expired });
    expect(purchases(order.id)).toHaveLength(0);
  });

  it('refunds a Stars payment through refundStarPayment exactly once, also after a crash between the call and its record', async () => {
    const { order, invoice } = await voiceAwaitingStars(503);
    await telegram.preCheckoutAnswer(telegram.preCheckout(invoice, { id: 503 }));
    const { chargeId, update } = telegram.successfulPayment(invoice, { id: 503 });
    telegram.pushUpdate(update);
    await svc.waitForOrder((o) => o.id === order.id && o.state !== 'awaiting_payment', 60_000);
    const before = svc.balance('telegram', '503');

    const [refund] = await svc.service.invoicePayments.refund(order.id);
    expect(refund).toMatchObject({ chargeId, amount: order.amountCents, currency: 'xtr', already: false });
    expect(refund.takenBackSeconds).toBe(before);
    expect(telegram.refunds.get(chargeId)).toBe(503);
    expect(svc.balance('telegram', '503')).toBe(0);
    await telegram.waitFor(() => textsTo(503).some((t) => t.startsWith(`Your payment of ${order.amountCents} Stars was refunded`)));

    // Asked again (the operator runs the command twice): nothing goes to Telegram or the ledger.
    const refundCalls = telegram.callsOf('refundStarPayment').length;
    expect(await svc.service.invoicePayments.refund(order.id)).toMatchObject([{ chargeId, already: true }]);
    expect(telegram.callsOf('refundStarPayment')).toHaveLength(refundCalls);
    const entries = svc.service.db
      .select()
      .from(ledger)
      .where(eq(ledger.key, `refund-charge:${chargeId}`))
      .all();
    expect(entries).toMatchObject([{ kind: 'spend', seconds: -before, amountCents: -order.amountCents!, currency: 'xtr' }]);
  });

  it('takes a refund Telegram reports with refunded_payment into the ledger once, and answers it with no help text', async () => {
    const { order, invoice } = await voiceAwaitingStars(505);
    const { chargeId, update } = telegram.successfulPayment(invoice, { id: 505 });
    telegram.pushUpdate(update);
    await svc.waitForOrder((o) => o.id === order.id && o.state !== 'awaiting_payment', 20_000);
    await telegram.waitFor(() => textsTo(505).some((t) => t.startsWith('Payment received')));

    // Refunded outside this service's refund command (Telegram's support, or a refund whose record was lost).
    await fetch(`${telegram.url}/bot${telegram.token}/refundStarPayment`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: 505, telegram_payment_charge_id: chargeId }),
    });
    const refunded = telegram.refundedPayment(invoice, chargeId, { id: 505 });
    telegram.pushUpdate(refunded);
    const last = telegram.pushUpdate(refunded);
    // Both updates were handled once the bot confirms past them.
    await telegram.waitFor(() => telegram.callsOf('getUpdates').some((c) => Number(c.params.offset) > last), 20_000);
    await telegram.waitFor(() => textsTo(505).some((t) => t.startsWith(`Your payment of ${order.amountCents} Stars was refunded`)));
    expect(svc.balance('telegram', '505')).toBe(0);
    expect(
      svc.service.db
        .select()
        .from(ledger)
        .where(eq(ledger.key, `refund-charge:${chargeId}`))
        .all(),
    ).toHaveLength(1);
    expect(textsTo(505).filter((t) => t.includes('was refunded'))).toHaveLength(1);
    expect(textsTo(505).some((t) => t.includes(text.help(FREE, 'telegram').slice(0, 40)))).toBe(false);
  });

  it('records a refund Telegram made before a crash (CHARGE_ALREADY_REFUNDED) once, without failing', async () => {
    const { order, invoice } = await voiceAwaitingStars(504);
    const { chargeId, update } = telegram.successfulPayment(invoice, { id: 504 });
    telegram.pushUpdate(update);
    await svc.waitForOrder((o) => o.id === order.id && o.state !== 'awaiting_payment', 60_000);

    // The refund call reached Telegram, then the process died before writing it down.
    const response = await fetch(`${telegram.url}/bot${telegram.token}/refundStarPayment`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: 504, telegram_payment_charge_id: chargeId }),
    });
    expect(response.status).toBe(200);

    // The admin command builds the providers from the same configuration, without the running service.
    const methods = await paymentMethodsFromConfig(loadConfig(env), silentLogger);
    const { db, ledger: balances } = svc.service;
    const [refund] = await refundInvoiceCharges({ db, ledger: balances, methods, log: silentLogger }, order.id);
    expect(refund).toMatchObject({ chargeId, already: false });
    expect(svc.balance('telegram', '504')).toBe(0);
    expect(
      svc.service.db
        .select()
        .from(ledger)
        .where(eq(ledger.key, `refund-charge:${chargeId}`))
        .all(),
    ).toHaveLength(1);
  });

  it("refuses the operator's refund of a Stars order that is queued or running, as for a card payment", async () => {
    const { order, invoice } = await voiceAwaitingStars(505);
    const { chargeId, update } = telegram.successfulPayment(invoice, { id: 505 });
    telegram.pushUpdate(update);
    await svc.waitForOrder((o) => o.id === order.id && o.state !== 'awaiting_payment', 20_000);
    const before = svc.balance('telegram', '505');

    const refund = await runAdmin(['refund', order.id], { ...env, DATA_DIR: svc.dataDir }, adminTools);
    const state = svc.orders().find((o) => o.id === order.id)!.state;
    expect(['queued', 'running']).toContain(state);
    expect(refund.code).toBe(1);
    expect(refund.stderr).toMatch(new RegExp(`^admin: order ${order.id} is (queued|running); refund it once it is delivered or failed\n$`));
    expect(telegram.refunds.has(chargeId)).toBe(false);
    expect(telegram.callsOf('refundStarPayment').filter((c) => JSON.stringify(c).includes(chargeId))).toEqual([]);
    expect(svc.balance('telegram', '505')).toBe(before);
  });

  it('credits, once, a Stars payment the core wrote down but could not credit, on the reconcile pass run at start and hourly', async () => {
    const { order, invoice } = await voiceAwaitingStars(506);
    await telegram.preCheckoutAnswer(telegram.preCheckout(invoice, { id: 506 }));
    const { chargeId, update } = telegram.successfulPayment(invoice, { id: 506 });
    const sqlite = svc.service.db.$client;
    // The charge is written down, then crediting it fails (the disk, a lock): what the bot hands over after its last retry.
    sqlite.exec(
      `CREATE TRIGGER lost_credit BEFORE INSERT ON ledger WHEN NEW.kind = 'purchase' BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END`,
    );
    const payment = { chargeId, orderId: order.id, payerId: '506', amount: order.amountCents!, currency: 'XTR' };
    await expect(svc.service.invoicePayments.received(payment)).rejects.toThrow('disk I/O error');
    sqlite.exec('DROP TRIGGER lost_credit');
    expect(purchases(order.id)).toHaveLength(0);
    expect(svc.orders().find((o) => o.id === order.id)!.state).toBe('awaiting_payment');

    expect(await svc.service.invoicePayments.reconcile()).toBe(1);
    const bought = Math.ceil((order.amountCents! * 60) / STARS_PER_MINUTE);
    expect(purchases(order.id)).toMatchObject([{ key: `purchase:${order.id}:${chargeId}`, seconds: bought }]);
    await svc.waitForOrder((o) => o.id === order.id && o.state !== 'awaiting_payment', 20_000);
    expect(svc.balance('telegram', '506')).toBe(FREE + bought - order.seconds);
    await telegram.waitFor(() => textsTo(506).some((t) => t.startsWith('Payment received')));
    expect(logLines.some((l) => l.chargeId === chargeId && /reconcile pass applied it/.test(l.msg))).toBe(true);

    // Once: a second pass, and Telegram's own update arriving after all, credit nothing more.
    expect(await svc.service.invoicePayments.reconcile()).toBe(0);
    telegram.pushUpdate(update);
    await telegram.waitFor(() =>
      logLines.some((l) => l.msg === 'stars payment received' && l.chargeId === chargeId && l.outcome === 'duplicate'),
    );
    expect(purchases(order.id)).toHaveLength(1);
    expect(svc.balance('telegram', '506')).toBe(FREE + bought - order.seconds);
  });
});
