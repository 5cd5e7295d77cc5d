import { eq } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runAdmin } from '../src/admin/cli';
import { adminTools } from '../src/app/admin-tools';
import { ledger } from '../src/db/schema';
import { stripeClient } from '../src/payments/stripe-client';
import { deliverWebhook, startFakeStripe, stripeEvent, type FakeSession, type FakeStripe } from './support/fake-stripe';
import { ScriptedRunner } from './support/runners';
import { startTestService, type OrderRow, type TestService } from './support/service';
import { TestChannel } from './support/test-channel';

/**
 * Money that goes back after it paid: a refund made in Stripe's dashboard (`charge.refunded`) or a dispute
 * (`charge.dispute.created`, `charge.dispute.closed`) takes back the seconds it bought, at the purchase's
 * price; what the balance no longer holds is a debt the user and the operator see, and the next purchase
 * pays it first. Every event is delivered twice and must act once.
 *
 * Jobs stay `running` on a scripted runner: these tests are about money, not speech.
 */

const SPEECH = '/usr/share/sounds/alsa/Front_Center.wav'; // 1.43 s, billed as 2 s
const WEBHOOK_SECRET = 'whsec_disputes_test_secret';
// No free seconds, a dollar a second: 2 s are quoted at $60.00 (6000 cents), which buys 60 s.
const PRICES = { NEW_USER_FREE_SECONDS: '0', PRICE_PER_MINUTE_CENTS: '6000', MINIMUM_PAYMENT_CENTS: '50', CURRENCY: 'usd' };

let fake: FakeStripe;
let svc: TestService | undefined;
let chat: TestChannel;
let webhook: string;

beforeAll(async () => {
  fake = await startFakeStripe();
});
afterAll(() => fake.close());
afterEach(async () => {
  await svc?.stop();
  svc = undefined;
});

async function start(jobs: 'pending' | 'failed' = 'pending'): Promise<TestService> {
  chat = new TestChannel();
  svc = await startTestService({
    env: { ...PRICES, STRIPE_SECRET_KEY: fake.secretKey, STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, STRIPE_API_BASE: fake.url },
    channels: [chat],
    runner: new ScriptedRunner(jobs),
  });
  webhook = `${svc.url}/webhooks/stripe`;
  return svc;
}

/** Sends the clip as `sender` (message `id`), pays its checkout, and returns the order once it runs. */
async function paidOrder(sender: string, id: string): Promise<{ order: OrderRow; session: FakeSession }> {
  await chat.receive(chat.message(sender, [SPEECH], id));
  const quoted = await svc!.waitForOrder((o) => o.senderId === sender && o.state === 'awaiting_payment' && o.checkoutId !== null);
  const session = fake.sessions.get(quoted.checkoutId!)!;
  const paid = await deliverWebhook(webhook, stripeEvent('checkout.session.completed', fake.complete(session.id)), {
    secret: WEBHOOK_SECRET,
  });
  expect(paid.status).toBe(200);
  const order = await svc!.waitForOrder((o) => o.id === quoted.id && o.state !== 'awaiting_payment' && o.state !== 'queued');
  return { order, session };
}

/** Delivers one event twice, as Stripe does when an answer is lost; both are acknowledged. */
async function deliverTwice(type: string, snapshot: object): Promise<string[]> {
  const event = stripeEvent(type, snapshot);
  const outcomes: string[] = [];
  for (let i = 0; i < 2; i++) {
    const delivery = await deliverWebhook(webhook, event, { secret: WEBHOOK_SECRET });
    expect(delivery.status).toBe(200);
    outcomes.push((JSON.parse(delivery.body) as { outcome: string }).outcome);
  }
  return outcomes;
}

const entries = (orderId: string, kind: string) =>
  svc!.service.db
    .select()
    .from(ledger)
    .where(eq(ledger.orderId, orderId))
    .all()
    .filter((e) => e.kind === kind);

/** `admin user` as the operator runs it, as JSON. */
async function adminUser(ref: string): Promise<{ balanceSeconds: number; owedSeconds: number; text: string }> {
  const env = { DATA_DIR: svc!.dataDir };
  const json = await runAdmin(['user', ref, '--json'], env, adminTools);
  const text = await runAdmin(['user', ref], env, adminTools);
  expect(json.stderr).toBe('');
  return { ...(JSON.parse(json.stdout) as { balanceSeconds: number; owedSeconds: number }), text: text.stdout };
}

async function balanceReply(sender: string): Promise<string> {
  const before = chat.repliesTo(sender, 'command').length;
  await chat.receive(chat.command(sender, 'balance'));
  await chat.waitForReply((r, to) => to.chatId === sender && r.kind === 'command' && chat.repliesTo(sender, 'command').length > before);
  return chat.repliesTo(sender, 'command').at(-1)!.text;
}

describe('a refund made in Stripe', () => {
  it('takes back the unspent seconds, owes the rest, shows the debt, and the next purchase pays it first', async () => {
    await start();
    const { order, session } = await paidOrder('ann', 'ann-1');
    expect(svc!.balance('test', 'ann')).toBe(58);

    fake.refundInDashboard(session.id);
    expect(await deliverTwice('charge.refunded', fake.chargeFor(session.id))).toEqual(['applied', 'duplicate']);

    // 60 s were bought; 58 were still on the balance, the 2 spent on the order are owed.
    expect(svc!.balance('test', 'ann')).toBe(0);
    expect(entries(order.id, 'payment_refund').map((e) => [e.seconds, e.amountCents])).toEqual([[-58, -6000]]);
    const notice = await chat.waitForReply((r, to) => to.chatId === 'ann' && r.kind === 'notice' && r.text.includes('refunded'));
    expect(notice.text).toContain('you owe 2 s');
    expect(chat.repliesTo('ann').filter((r) => r.text.includes('refunded'))).toHaveLength(1);
    expect(await balanceReply('ann')).toMatch(/You owe 2 s/);
    const report = await adminUser('test:ann');
    expect(report).toMatchObject({ balanceSeconds: 0, owedSeconds: 2 });
    expect(report.text).toMatch(/owed:\s+2 s/);

    // The next recording is quoted with the debt, and paid; the payment pays the 2 s owed first, then the 2 s of the order.
    const next = await paidOrder('ann', 'ann-2');
    const quote = await chat.waitForReply((r) => r.kind === 'quote' && r.orderId === next.order.id && r.action !== undefined);
    expect(quote.text).toContain('You owe 2 s');
    expect(svc!.balance('test', 'ann')).toBe(56);
    expect((await adminUser('test:ann')).owedSeconds).toBe(0);
    expect(entries(next.order.id, 'spend').map((e) => e.seconds)).toEqual([-2]);
  });

  it('a partial refund takes only its share, and a second one only the new part', async () => {
    await start();
    const { order, session } = await paidOrder('bob', 'bob-1');
    const stripe = stripeClient({ secretKey: fake.secretKey, apiBase: fake.url });
    await stripe.refunds.create({ payment_intent: session.payment_intent!, amount: 1500 });
    expect(await deliverTwice('charge.refunded', fake.chargeFor(session.id))).toEqual(['applied', 'duplicate']);
    // A quarter of the $60 took a quarter of the 60 s bought.
    expect(svc!.balance('test', 'bob')).toBe(43);

    await stripe.refunds.create({ payment_intent: session.payment_intent!, amount: 1500 });
    expect(await deliverTwice('charge.refunded', fake.chargeFor(session.id))).toEqual(['applied', 'duplicate']);
    expect(svc!.balance('test', 'bob')).toBe(28);
    expect(entries(order.id, 'payment_refund').map((e) => e.amountCents)).toEqual([-1500, -1500]);
    expect((await adminUser('test:bob')).owedSeconds).toBe(0);
  });
});

describe("the operator's refund and Stripe's event about it", () => {
  it('take the seconds back once, whichever comes first', async () => {
    await start('failed');
    const { order, session } = await paidOrder('eve', 'eve-1');
    // The transcription failed, so its 2 s came back: all 60 s bought are on the balance.
    await svc!.waitForOrder((o) => o.id === order.id && o.state === 'failed');
    expect(svc!.balance('test', 'eve')).toBe(60);

    const env = {
      DATA_DIR: svc!.dataDir,
      STRIPE_SECRET_KEY: fake.secretKey,
      STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      STRIPE_API_BASE: fake.url,
    };
    const refunded = await runAdmin(['refund', order.id], env, adminTools);
    expect(refunded.stderr).toBe('');
    expect(svc!.balance('test', 'eve')).toBe(0);
    // Stripe then reports the refund the command made: nothing more is taken, nothing owed, one notice.
    expect(await deliverTwice('charge.refunded', fake.chargeFor(session.id))).toEqual(['ignored', 'duplicate']);
    expect(svc!.balance('test', 'eve')).toBe(0);
    expect((await adminUser('test:eve')).owedSeconds).toBe(0);
    expect(entries(order.id, 'payment_refund')).toHaveLength(1);
    await chat.waitForReply((r, to) => to.chatId === 'eve' && r.text.includes('was refunded'));
    expect(chat.repliesTo('eve').filter((r) => r.text.includes('was refunded'))).toHaveLength(1);

    // The other way round: refunded in Stripe's dashboard and reported first; the command then refunds nothing more.
    const second = await paidOrder('fin', 'fin-1');
    await svc!.waitForOrder((o) => o.id === second.order.id && o.state === 'failed');
    fake.refundInDashboard(second.session.id);
    expect(await deliverTwice('charge.refunded', fake.chargeFor(second.session.id))).toEqual(['applied', 'duplicate']);
    expect(svc!.balance('test', 'fin')).toBe(0);
    const again = await runAdmin(['refund', second.order.id], env, adminTools);
    expect(again.stderr).toBe('');
    expect(fake.refundsFor(second.session.id)).toHaveLength(1);
    expect(entries(second.order.id, 'payment_refund')).toHaveLength(1);
    expect(svc!.balance('test', 'fin')).toBe(0);
  });
});

describe('a refund reported before the payment it refunds', () => {
  it('is refused until the payment is recorded, so Stripe delivers it again and it then takes the seconds back', async () => {
    await start();
    await chat.receive(chat.message('gil', [SPEECH], 'gil-1'));
    const quoted = await svc!.waitForOrder((o) => o.senderId === 'gil' && o.state === 'awaiting_payment' && o.checkoutId !== null);
    const session = fake.complete(quoted.checkoutId!);
    fake.refundInDashboard(session.id);
    const refund = stripeEvent('charge.refunded', fake.chargeFor(session.id));
    expect((await deliverWebhook(webhook, refund, { secret: WEBHOOK_SECRET })).status).toBe(500);

    expect((await deliverWebhook(webhook, stripeEvent('checkout.session.completed', session), { secret: WEBHOOK_SECRET })).status).toBe(
      200,
    );
    expect(svc!.balance('test', 'gil')).toBe(58);
    const again = await deliverWebhook(webhook, refund, { secret: WEBHOOK_SECRET });
    expect(JSON.parse(again.body)).toMatchObject({ outcome: 'applied' });
    expect(svc!.balance('test', 'gil')).toBe(0);
    expect((await adminUser('test:gil')).owedSeconds).toBe(2);
  });
});

describe('a dispute', () => {
  it('takes back what the payment bought while open, and gives it all back when won', async () => {
    await start();
    const { order, session } = await paidOrder('cat', 'cat-1');
    expect(await deliverTwice('charge.dispute.created', fake.disputeFor(session.id, { id: 'dp_cat', status: 'needs_response' }))).toEqual([
      'applied',
      'duplicate',
    ]);
    expect(svc!.balance('test', 'cat')).toBe(0);
    expect((await adminUser('test:cat')).owedSeconds).toBe(2);
    expect(entries(order.id, 'chargeback').map((e) => e.seconds)).toEqual([-58]);
    await chat.waitForReply((r, to) => to.chatId === 'cat' && r.text.includes('disputed with your bank'));

    expect(await deliverTwice('charge.dispute.closed', fake.disputeFor(session.id, { id: 'dp_cat', status: 'won' }))).toEqual([
      'applied',
      'duplicate',
    ]);
    expect(svc!.balance('test', 'cat')).toBe(58);
    expect((await adminUser('test:cat')).owedSeconds).toBe(0);
    await chat.waitForReply((r, to) => to.chatId === 'cat' && r.text.includes('the payment stands'));
  });

  it('an inquiry withdraws nothing, and a lost dispute takes nothing more', async () => {
    await start();
    const { session } = await paidOrder('dan', 'dan-1');
    expect(
      await deliverTwice('charge.dispute.created', fake.disputeFor(session.id, { id: 'dp_inq', status: 'warning_needs_response' })),
    ).toEqual(['ignored', 'ignored']);
    expect(svc!.balance('test', 'dan')).toBe(58);
    await deliverTwice('charge.dispute.created', fake.disputeFor(session.id, { id: 'dp_dan', status: 'needs_response' }));
    expect(await deliverTwice('charge.dispute.closed', fake.disputeFor(session.id, { id: 'dp_dan', status: 'lost' }))).toEqual([
      'ignored',
      'duplicate',
    ]);
    expect(svc!.balance('test', 'dan')).toBe(0);
    expect((await adminUser('test:dan')).owedSeconds).toBe(2);
  });
});

describe('refunds in part, by the operator and in Stripe, crossing', () => {
  const adminEnv = () => ({
    DATA_DIR: svc!.dataDir,
    STRIPE_SECRET_KEY: fake.secretKey,
    STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    STRIPE_API_BASE: fake.url,
  });
  const refundedCents = (orderId: string) => -entries(orderId, 'payment_refund').reduce((sum, e) => sum + (e.amountCents ?? 0), 0);

  it("the operator's refund after a partial one in Stripe's dashboard refunds the rest, and the seconds go once", async () => {
    await start('failed');
    const { order, session } = await paidOrder('hal', 'hal-1');
    await svc!.waitForOrder((o) => o.id === order.id && o.state === 'failed');
    const stripe = stripeClient({ secretKey: fake.secretKey, apiBase: fake.url });
    await stripe.refunds.create({ payment_intent: session.payment_intent!, amount: 1500 });
    expect(await deliverTwice('charge.refunded', fake.chargeFor(session.id))).toEqual(['applied', 'duplicate']);
    expect(svc!.balance('test', 'hal')).toBe(45);

    const refunded = await runAdmin(['refund', order.id], adminEnv(), adminTools);
    expect(refunded.stderr).toBe('');
    expect(refunded.stdout).not.toMatch(/nothing done/);
    expect(fake.refundsFor(session.id).reduce((sum, r) => sum + r.amount, 0)).toBe(6000);
    expect(svc!.balance('test', 'hal')).toBe(0);
    // Stripe then reports the charge refunded in full: all of it is recorded already.
    expect(await deliverTwice('charge.refunded', fake.chargeFor(session.id))).toEqual(['ignored', 'duplicate']);
    expect(refundedCents(order.id)).toBe(6000);
    expect((await adminUser('test:hal')).owedSeconds).toBe(0);
    expect(svc!.balance('test', 'hal')).toBe(0);
  });

  it("a dashboard refund whose event comes only after the operator's refund is not taken twice", async () => {
    await start('failed');
    const { order, session } = await paidOrder('ida', 'ida-1');
    await svc!.waitForOrder((o) => o.id === order.id && o.state === 'failed');
    const stripe = stripeClient({ secretKey: fake.secretKey, apiBase: fake.url });
    await stripe.refunds.create({ payment_intent: session.payment_intent!, amount: 1500 });
    const late = stripeEvent('charge.refunded', fake.chargeFor(session.id)); // says 1500 refunded, delivered later

    const refunded = await runAdmin(['refund', order.id], adminEnv(), adminTools);
    expect(refunded.stderr).toBe('');
    // The command refunded the 4500 left: three quarters of the 60 s.
    expect(svc!.balance('test', 'ida')).toBe(15);

    expect(JSON.parse((await deliverWebhook(webhook, late, { secret: WEBHOOK_SECRET })).body)).toMatchObject({ outcome: 'ignored' });
    expect(await deliverTwice('charge.refunded', fake.chargeFor(session.id))).toEqual(['applied', 'duplicate']);
    expect(refundedCents(order.id)).toBe(6000);
    expect(svc!.balance('test', 'ida')).toBe(0);
    expect((await adminUser('test:ida')).owedSeconds).toBe(0);
  });
});

describe('a dispute and the operator', () => {
  it('a failed order whose payment is disputed is not retried for free; once the dispute is won it may be', async () => {
    await start('failed');
    const { order, session } = await paidOrder('jon', 'jon-1');
    await svc!.waitForOrder((o) => o.id === order.id && o.state === 'failed');
    await deliverTwice('charge.dispute.created', fake.disputeFor(session.id, { id: 'dp_jon', status: 'needs_response' }));
    const refused = await runAdmin(['retry', order.id], { DATA_DIR: svc!.dataDir }, adminTools);
    expect(refused.stderr).toMatch(/refunded or disputed, so a retry would transcribe it for free; nothing done/);
    expect(svc!.orders().find((o) => o.id === order.id)!.state).toBe('failed');

    await deliverTwice('charge.dispute.closed', fake.disputeFor(session.id, { id: 'dp_jon', status: 'won' }));
    const retried = await runAdmin(['retry', order.id], { DATA_DIR: svc!.dataDir }, adminTools);
    expect(retried.stderr).toBe('');
  });

  it('an inquiry that becomes a chargeback takes the seconds back once, when the funds are withdrawn or at the latest when lost', async () => {
    await start();
    const { session } = await paidOrder('kim', 'kim-1');
    expect(
      await deliverTwice('charge.dispute.created', fake.disputeFor(session.id, { id: 'dp_kim', status: 'warning_needs_response' })),
    ).toEqual(['ignored', 'ignored']);
    expect(
      await deliverTwice('charge.dispute.funds_withdrawn', fake.disputeFor(session.id, { id: 'dp_kim', status: 'needs_response' })),
    ).toEqual(['applied', 'duplicate']);
    expect(svc!.balance('test', 'kim')).toBe(0);
    expect(await deliverTwice('charge.dispute.closed', fake.disputeFor(session.id, { id: 'dp_kim', status: 'lost' }))).toEqual([
      'ignored',
      'duplicate',
    ]);
    expect((await adminUser('test:kim')).owedSeconds).toBe(2);

    // Its withdrawal never delivered: the loss takes it.
    const other = await paidOrder('lou', 'lou-1');
    expect(await deliverTwice('charge.dispute.closed', fake.disputeFor(other.session.id, { id: 'dp_lou', status: 'lost' }))).toEqual([
      'applied',
      'duplicate',
    ]);
    expect(svc!.balance('test', 'lou')).toBe(0);
    expect((await adminUser('test:lou')).owedSeconds).toBe(2);
  });
});
