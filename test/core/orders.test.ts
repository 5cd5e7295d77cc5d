import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ledger } from '../../src/db/schema';
import { eq } from 'drizzle-orm';
import { spokenFile } from '../support/audio';
import { RecordingPayments } from '../support/recording-payments';
import { ScriptedRunner } from '../support/runners';
import { startTestService, type TestService } from '../support/service';
import { TestChannel } from '../support/test-channel';

let dir: string;
let voice: string; // about 4 s of speech
let svc: TestService | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'orders-'));
  voice = await spokenFile(dir, 'memo.ogg', 'The meeting moved to Thursday afternoon at three.');
});
afterEach(async () => {
  await svc?.stop();
  svc = undefined;
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const start = async (env: Record<string, string>, extra: { payments?: RecordingPayments; runner?: ScriptedRunner } = {}) => {
  const channel = new TestChannel();
  svc = await startTestService({ env, channels: [channel], ...extra });
  return { channel, svc };
};

describe('paying path', () => {
  it('holds the free seconds, sends a pay link for the rest, and transcribes once paid', async () => {
    const payments = new RecordingPayments();
    const { channel, svc } = await start(
      { NEW_USER_FREE_SECONDS: '2', PRICE_PER_MINUTE_CENTS: '10', MINIMUM_PAYMENT_CENTS: '50' },
      { payments },
    );
    await channel.receive(channel.message('dana', [voice]));

    const quote = await channel.waitForReply((r) => r.kind === 'quote');
    expect(quote.action?.url).toMatch(/^https:\/\/pay\.example\.test\//);
    expect(quote.action?.label).toBe('Pay $0.50');
    expect(quote.text).toMatch(/memo\.ogg \(0:0\d\)/);
    const [request] = payments.requests;
    const order = svc.orders()[0];
    expect(order.state).toBe('awaiting_payment');
    expect(request).toMatchObject({ orderId: order.id, amountCents: 50, currency: 'usd', missingSeconds: order.seconds - 2 });
    expect(svc.balance('test', 'dana')).toBe(0); // the 2 free seconds are held for this order

    const event = { eventId: 'evt_1', orderId: order.id, checkoutId: `cs_${order.id}`, amountCents: 50, currency: 'usd' };
    expect(await svc.service.orderPayments.paid(event)).toBe('applied');
    expect(await svc.service.orderPayments.paid(event)).toBe('duplicate');
    // Another event for the same checkout's money (Stripe sends completed and async_payment_succeeded): credited once.
    expect(await svc.service.orderPayments.paid({ ...event, eventId: 'evt_2' })).toBe('duplicate');

    const paid = await channel.waitForReply((r) => r.kind === 'status');
    expect(paid.text).toContain('Payment received');
    await channel.waitForReply((r) => r.kind === 'transcript' && /thursday/i.test(r.text));
    // 50 cents buy 5 minutes; the order cost its seconds; the rest stays.
    expect(svc.balance('test', 'dana')).toBe(2 + 300 - order.seconds);
    expect(svc.orders()[0].state).toBe('delivered');
  });

  it('expiry gives the held seconds back, deletes the audio (no keep time) and tells the user; a later payment becomes balance', async () => {
    const payments = new RecordingPayments();
    const { channel, svc } = await start({ NEW_USER_FREE_SECONDS: '1', EXPIRED_AUDIO_KEEP_HOURS: '0' }, { payments });
    await channel.receive(channel.message('erin', [voice]));
    await channel.waitForReply((r) => r.kind === 'quote');
    const order = svc.orders()[0];
    expect(svc.balance('test', 'erin')).toBe(0);
    const event = { eventId: 'evt_x', orderId: order.id, checkoutId: `cs_${order.id}`, amountCents: 50, currency: 'usd' };
    expect(await svc.service.orderPayments.expired(event)).toBe('applied');
    const notice = await channel.waitForReply((r) => r.text.includes('expired'));
    expect(notice.balanceSeconds).toBe(1);
    expect(svc.balance('test', 'erin')).toBe(1);
    expect(await svc.service.store.exists(`orders/${order.id}/0`)).toBe(false);
    expect(await svc.service.orderPayments.paid({ ...event, eventId: 'evt_late' })).toBe('credited');
    expect(svc.orders()[0].state).toBe('expired');
    expect(svc.balance('test', 'erin')).toBe(1 + 300);
  });

  it('expires an order whose checkout expiry event never came, after a day', async () => {
    const payments = new RecordingPayments();
    const { channel, svc } = await start({ NEW_USER_FREE_SECONDS: '1' }, { payments });
    await channel.receive(channel.message('uma', [voice]));
    await channel.waitForReply((r) => r.kind === 'quote');
    // This provider cannot be asked about a checkout, so the sweep waits until none can still be alive.
    expect(await svc.service.orderPayments.sweep()).toBe(0);
    const { orders } = await import('../../src/db/schema');
    svc.service.db
      .update(orders)
      .set({ updatedAt: Date.now() - 26 * 3600_000 })
      .run();
    expect(await svc.service.orderPayments.sweep()).toBe(1);
    await channel.waitForReply((r) => r.text.includes('expired'));
    expect(svc.orders()[0].state).toBe('expired');
    expect(svc.balance('test', 'uma')).toBe(1);
  });

  it('credits a payment smaller than the seconds missing, and holds the order back', async () => {
    const payments = new RecordingPayments();
    // A dollar a second: one cent buys a fraction of a second, rounded up to one.
    const { channel, svc } = await start({ NEW_USER_FREE_SECONDS: '0', PRICE_PER_MINUTE_CENTS: '6000' }, { payments });
    await channel.receive(channel.message('fay', [voice]));
    await channel.waitForReply((r) => r.kind === 'quote');
    const order = svc.orders()[0];
    const event = { eventId: 'evt_m', orderId: order.id, checkoutId: `cs_${order.id}`, amountCents: 1, currency: 'usd' };
    expect(await svc.service.orderPayments.paid(event)).toBe('credited');
    expect(svc.orders()[0].state).toBe('expired');
    expect(svc.balance('test', 'fay')).toBe(1);
    await channel.waitForReply((r) => r.text.startsWith('I received $0.01'));
  });

  it('retries a checkout the provider failed to create', async () => {
    const payments = new RecordingPayments();
    payments.failNext = 1;
    const { channel, svc } = await start({ NEW_USER_FREE_SECONDS: '0' }, { payments });
    await channel.receive(channel.message('gus', [voice]));
    // No link yet, but not silence: the user learns it is being retried.
    await channel.waitForReply((r) => r.kind === 'notice' && r.text.includes('could not create the payment link'));
    expect(channel.repliesTo('gus', 'quote')).toHaveLength(0);
    (svc.service as unknown as { loops: { name: string; wake(): void }[] }).loops.find((l) => l.name === 'checkouts')!.wake();
    const quote = await channel.waitForReply((r) => r.kind === 'quote');
    expect(quote.action?.url).toContain(svc.orders()[0].id);
  });

  it('says payments are not set up when the balance is short and there is no provider', async () => {
    const { channel, svc } = await start({ NEW_USER_FREE_SECONDS: '1' });
    await channel.receive(channel.message('hal', [voice]));
    const reply = await channel.waitForReply(() => true);
    expect(reply.text).toContain('payments are not set up');
    expect(reply.action).toBeUndefined();
    expect(svc.orders()[0].state).toBe('rejected');
    expect(svc.balance('test', 'hal')).toBe(1);
  });
});

describe('refusals, duplicates and commands', () => {
  it('refuses too large and too long files, and ignores a redelivered message', async () => {
    const { channel, svc } = await start({ MAX_FILE_BYTES: '2000' });
    const message = channel.message('ivy', [voice]);
    await channel.receive(message);
    await channel.receive(message);
    const reply = await channel.waitForReply(() => true);
    expect(reply.text).toContain('larger than the 2 KB limit');
    await new Promise((r) => setTimeout(r, 300));
    expect(channel.sent).toHaveLength(1);
    expect(svc.orders()).toHaveLength(1);
    expect(svc.balance('test', 'ivy')).toBe(600);
  });

  it('a copy delivered while the original is still being recorded resolves only with it, and makes no second order', async () => {
    const runner = new ScriptedRunner('pending');
    const { channel, svc } = await start({}, { runner });
    const bytes = await readFile(voice);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = () =>
      Readable.from(
        (async function* () {
          await gate;
          yield bytes;
        })(),
      );
    const message = channel.message('vic', [{ name: 'memo.ogg', bytes: slow }]);
    let copyDone = false;
    const original = channel.receive(message);
    const copy = channel.receive(message).then(() => (copyDone = true));
    await new Promise((r) => setTimeout(r, 200));
    expect(copyDone).toBe(false);
    expect(svc.orders()).toHaveLength(0);
    release();
    await Promise.all([original, copy]);
    expect(svc.orders()).toHaveLength(1);
  });

  it('refuses audio longer than MAX_FILE_SECONDS', async () => {
    const { channel, svc } = await start({ MAX_FILE_SECONDS: '2' });
    await channel.receive(channel.message('jay', [voice]));
    const reply = await channel.waitForReply(() => true);
    expect(reply.text).toContain('longer than the 0:02 limit');
    expect(svc.balance('test', 'jay')).toBe(600);
  });

  it('answers /start, /balance and /language, and uses the language for the next order', async () => {
    const runner = new ScriptedRunner('pending');
    // A multilingual model's name: the scripted runner never loads it.
    const { channel } = await start({ WHISPER_MODEL: join(dir, 'ggml-base.bin') }, { runner });
    await channel.receive(channel.command('kim', 'balance'));
    await channel.receive(channel.command('kim', 'language', 'de'));
    await channel.receive(channel.command('kim', 'language', '../../etc'));
    await channel.receive(channel.command('kim', 'start'));
    await channel.receive(channel.message('kim', []));
    await channel.waitForReply((r) => r.kind === 'notice');
    const texts = channel.repliesTo('kim').map((r) => r.text);
    expect(texts[0]).toBe('You have 10 min of transcription left.');
    expect(texts[1]).toContain('"de"');
    expect(texts[2]).toContain('language code such as en, de or es');
    expect(texts[3]).toMatch(/^Welcome!/);
    expect(texts[4]).toContain('Please send an audio or video file');
    await channel.receive(channel.message('kim', [voice]));
    await expect.poll(() => runner.submitted.length, { timeout: 60_000 }).toBeGreaterThan(0);
    expect(runner.submitted[0].options.language).toBe('de');
  });
});

describe('money under pressure', () => {
  it('200 concurrent orders from one user never take the balance below zero or spend a second twice', async () => {
    const runner = new ScriptedRunner('pending');
    const payments = new RecordingPayments();
    // The per-user message limit is lifted: this is about money under racing orders, not about floods.
    const { channel, svc } = await start({ NEW_USER_FREE_SECONDS: '60', USER_MESSAGES_PER_MINUTE: '1000' }, { runner, payments });
    // One message first so the user exists, then 200 at once.
    await channel.receive(channel.command('lee', 'balance'));
    await Promise.all(Array.from({ length: 200 }, (_, i) => channel.receive(channel.message('lee', [voice], `burst-${i}`))));
    const orders = svc.orders();
    expect(orders).toHaveLength(200);
    const rows = svc.service.db.select().from(ledger).all();
    const total = rows.reduce((sum, r) => sum + r.seconds, 0);
    expect(total).toBe(svc.balance('test', 'lee'));
    expect(total).toBeGreaterThanOrEqual(0);
    const spentOrHeld = -rows.filter((r) => r.seconds < 0).reduce((s, r) => s + r.seconds, 0);
    expect(spentOrHeld).toBeLessThanOrEqual(60);
    const queued = orders.filter((o) => o.state === 'queued' || o.state === 'running');
    expect(queued.length).toBe(Math.floor(60 / orders[0].seconds));
    expect(orders.filter((o) => o.state === 'awaiting_payment')).toHaveLength(200 - queued.length);
    expect(new Set(rows.map((r) => r.key)).size).toBe(rows.length);
  });
});

describe('failures', () => {
  it('refunds the seconds and says so when the job keeps failing', async () => {
    const runner = new ScriptedRunner('failed');
    const { channel, svc } = await start({}, { runner });
    await channel.receive(channel.message('max', [voice]));
    const notice = await channel.waitForReply((r) => r.text.includes('transcription failed'));
    expect(runner.submitted.length).toBe(2);
    expect(svc.balance('test', 'max')).toBe(600);
    expect(notice.balanceSeconds).toBe(600);
    const order = svc.orders()[0];
    expect(order.state).toBe('failed');
    const refunds = svc.service.db.select().from(ledger).where(eq(ledger.orderId, order.id)).all();
    expect(refunds.map((r) => r.kind).sort()).toEqual(['refund', 'spend']);
  });

  it('runs a job the runner keeps losing again only a bounded number of times, then refunds it', async () => {
    const runner = new ScriptedRunner('unknown');
    const { channel, svc } = await start({}, { runner });
    await channel.receive(channel.message('lou', [voice]));
    const notice = await channel.waitForReply((r) => r.text.includes('transcription failed'), 60_000);
    expect(notice.balanceSeconds).toBe(600);
    expect(runner.submitted.length).toBe(5);
    expect(svc.orders()[0]).toMatchObject({ state: 'failed', attempts: 5 });
  });

  it('retries a reply the platform refused, in order, and sends it once', async () => {
    const runner = new ScriptedRunner('pending');
    const { channel } = await start({}, { runner });
    channel.failNext(2);
    await channel.receive(channel.command('ned', 'balance'));
    await channel.receive(channel.command('ned', 'help'));
    await channel.waitForReply((r) => r.text.startsWith('Send me'), 30_000);
    expect(channel.repliesTo('ned').map((r) => r.kind)).toEqual(['command', 'command']);
  });

  it('gives up at once on a permanent delivery failure (user blocked the bot)', async () => {
    const runner = new ScriptedRunner('pending');
    const { channel, svc } = await start({}, { runner });
    channel.failNext(1, true);
    await channel.receive(channel.command('oz', 'balance'));
    const { outbox } = await import('../../src/db/schema');
    const states = () =>
      svc.service.db
        .select()
        .from(outbox)
        .all()
        .map((r) => r.state);
    await expect.poll(states, { timeout: 60_000 }).toEqual(['dead']);
    expect(channel.sent).toHaveLength(0);
    // Given up after the one refused try, not after a retry budget spent.
    expect(
      svc.service.db
        .select()
        .from(outbox)
        .all()
        .map((r) => r.attempts),
    ).toEqual([1]);
  });
});
