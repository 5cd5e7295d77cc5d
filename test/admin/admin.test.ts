import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAdmin } from '../../src/admin/cli';
import { adminTools } from '../../src/app/admin-tools';
import { deliverWebhook, startFakeStripe, stripeEvent, type FakeStripe } from '../support/fake-stripe';
import { startTestService, type OrderRow, type TestService } from '../support/service';
import { TestChannel } from '../support/test-channel';

/**
 * The operator's command against the database of the real service while it runs: orders paid through
 * the loopback Stripe and transcribed by the real engine, then looked up, credited, retried and
 * refunded with `npm run admin`, each as its own process, as an operator would.
 */

const SPEECH = '/usr/share/sounds/alsa/Front_Center.wav'; // 1.43 s, billed as 2 s
const WEBHOOK_SECRET = 'whsec_admin_test_secret';
// No free seconds; 50 cents (the minimum) buy 300 s.
const PRICES = { NEW_USER_FREE_SECONDS: '0', PRICE_PER_MINUTE_CENTS: '10', MINIMUM_PAYMENT_CENTS: '50', CURRENCY: 'usd' };

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

describe('npm run admin', () => {
  let fake: FakeStripe;
  let svc: TestService;
  let env: Record<string, string>;
  const chat = new TestChannel();
  const scratch: string[] = [];

  beforeAll(async () => {
    fake = await startFakeStripe();
    svc = await startTestService({
      env: { ...PRICES, STRIPE_SECRET_KEY: fake.secretKey, STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, STRIPE_API_BASE: fake.url },
      channels: [chat],
    });
    env = { DATA_DIR: svc.dataDir, STRIPE_SECRET_KEY: fake.secretKey, STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET, STRIPE_API_BASE: fake.url };
  });
  afterAll(async () => {
    await svc?.stop();
    await fake?.close();
    for (const dir of scratch) await rm(dir, { recursive: true, force: true });
  });

  /**
   * The admin command with `args`. In this process by default (its own database connection, as a separate
   * process has: the machine is too slow to start one per call), or as `npm run admin` in its own process.
   */
  async function admin(
    args: string[],
    extra: Record<string, string> = {},
    how: 'in-process' | 'npm' | 'node' = 'in-process',
  ): Promise<Run> {
    if (how === 'in-process') {
      const { code, stdout, stderr } = await runAdmin(args, { ...env, ...extra }, adminTools);
      return { code, signal: null, stdout, stderr };
    }
    const [command, argv] =
      how === 'npm'
        ? ['npm', ['run', '--silent', 'admin', '--', ...args]]
        : [process.execPath, ['--import', 'tsx', 'src/app/admin.ts', ...args]];
    const child = spawn(command, argv, { env: { ...process.env, ...env, ...extra } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  }
  const json = async <T>(args: string[]): Promise<T> => {
    const run = await admin([...args, '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    return JSON.parse(run.stdout) as T;
  };

  const orderOf = (id: string): OrderRow => svc.orders().find((o) => o.id === id)!;

  /** `sender` sends the clip and pays its checkout; resolves with the order once it reached `state`. */
  async function paidOrder(
    sender: string,
    state: 'delivered' | 'failed',
    beforePaying?: (order: OrderRow) => Promise<void>,
  ): Promise<OrderRow> {
    await chat.receive(chat.message(sender, [SPEECH]));
    const order = await svc.waitForOrder((o) => o.senderId === sender && o.state === 'awaiting_payment' && o.checkoutId !== null);
    await beforePaying?.(order);
    const paid = await deliverWebhook(
      `${svc.url}/webhooks/stripe`,
      stripeEvent('checkout.session.completed', fake.complete(order.checkoutId!)),
      { secret: WEBHOOK_SECRET },
    );
    expect(paid.status).toBe(200);
    return svc.waitForOrder((o) => o.id === order.id && o.state === state);
  }

  it('finds users and orders, shows an order with its files, ledger and replies, and grants seconds with a reason', async () => {
    const order = await paidOrder('alice', 'delivered');
    await chat.waitForReply((r, to) => to.chatId === 'alice' && r.kind === 'transcript');

    const listed = await admin(['users', '--search', 'ALI'], {}, 'npm');
    expect(listed.code).toBe(0);
    const [header, row, ...rest] = listed.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ID +CHANNEL +PLATFORM ID +BALANCE +ORDERS +LAST ORDER +CREATED$/);
    expect(row).toMatch(/^\S{36} +test +alice +298 s \(4 min 58 s\) +1 +\d{4}-\d\d-\d\d \d\d:\d\d +\d{4}-\d\d-\d\d \d\d:\d\d$/);
    expect(rest).toEqual([]);

    const user = await json<{
      user: { id: string };
      balanceSeconds: number;
      ledger: { kind: string; seconds: number; amountCents: number | null }[];
      recentOrders: { id: string; state: string }[];
    }>(['user', 'test:alice']);
    expect(user.balanceSeconds).toBe(298);
    expect(user.ledger.map((e) => [e.kind, e.seconds, e.amountCents])).toEqual([
      ['purchase', 300, 50],
      ['spend', -2, null],
    ]);
    expect(user.recentOrders).toEqual([expect.objectContaining({ id: order.id, state: 'delivered' })]);

    const shown = await admin(['order', order.id.slice(0, 8)]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`order:     ${order.id}`);
    expect(shown.stdout).toMatch(/state: +delivered/);
    expect(shown.stdout).toMatch(/0 +Front_Center\.wav +\d+ +1\.4 s +done/);
    expect(shown.stdout).toMatch(new RegExp(`purchase +300 +\\$0\\.50 +${order.id} +purchase:${order.id}`));
    expect(shown.stdout).toMatch(new RegExp(`transcript:${order.id} +transcript +sent +1`));

    // A grant is a new ledger entry carrying its reason; with --key, doing it twice grants once.
    const granted = await admin(['grant', 'alice', '120', '--reason', 'support ticket 42', '--key', 'ticket-42', '--by', 'carol']);
    expect(granted.stdout).toMatch(/^granted 120 s \(2 min\) to test:alice; balance now 418 s \(6 min 58 s\) \(ledger entry \d+\)\n$/);
    const repeated = await admin(['grant', 'alice', '120', '--reason', 'support ticket 42', '--key', 'ticket-42']);
    expect(repeated.code).toBe(0);
    expect(repeated.stdout).toMatch(/^already done: granted 120 s/);
    expect(svc.balance('test', 'alice')).toBe(418);
    const tooMuch = await admin(['grant', 'alice', '-1000', '--reason', 'mistake']);
    expect([tooMuch.code, tooMuch.stdout, tooMuch.stderr]).toEqual([
      1,
      '',
      'admin: test:alice has 418 s; taking 1000 s would go below zero\n',
    ]);
    const takeBack = await admin(['grant', 'alice', '-18', '--reason', 'double grant']);
    expect(takeBack.stdout).toMatch(/^took back 18 s from test:alice; balance now 400 s/);
    expect(svc.balance('test', 'alice')).toBe(400);
    const entries = (
      await json<{ ledger: { kind: string; seconds: number; note: string | null; actor: string | null }[] }>(['user', 'test:alice'])
    ).ledger;
    // Who granted: --by, or else the system user who ran admin.
    expect(entries.filter((e) => e.kind === 'adjustment').map((e) => [e.seconds, e.note, e.actor])).toEqual([
      [120, 'support ticket 42', 'carol'],
      [-18, 'double grant', userInfo().username],
    ]);
    expect((await admin(['user', 'test:alice'])).stdout).toMatch(/adjustment +120 .*support ticket 42 +carol$/m);

    const delivered = await json<{ id: string }[]>(['orders', '--state', 'delivered', '--since', '1h']);
    expect(delivered.map((o) => o.id)).toEqual([order.id]);
    expect(await json<unknown[]>(['orders', '--since', '2099-01-01'])).toEqual([]);
  });

  it('answers bad arguments and unknown ids with one line and an exit code', async () => {
    const cases: [string[], number, RegExp][] = [
      [['order', 'ffffffffffff'], 1, /^admin: unknown order 'ffffffffffff'\n$/],
      [['user', 'nobody'], 1, /^admin: unknown user 'nobody'\n$/],
      [['orders', '--state', 'lost'], 2, /^admin: --state must be one of received, awaiting_payment, .+\n$/],
      [['orders', '--since', 'last tuesday'], 2, /^admin: --since must be a date .+\n$/],
      [['grant', 'alice', '1.5', '--reason', 'x'], 2, /^admin: SECONDS must be a whole number other than 0, got '1\.5'.*\n$/],
      [['grant', 'alice', '60'], 2, /^admin: --reason TEXT is required.*\n$/],
      [['users', '--reason', 'x'], 2, /^admin: users does not take --reason.*\n$/],
      [['launch'], 2, /^admin: unknown command 'launch'.*\n$/],
      [['refund'], 2, /^admin: refund takes ORDER, got none.*\n$/],
    ];
    for (const [args, code, stderr] of cases) {
      const run = await admin(args);
      expect({ args, code: run.code, stdout: run.stdout }).toEqual({ args, code, stdout: '' });
      expect(run.stderr).toMatch(stderr);
    }
    const elsewhere = await mkdtemp(join(tmpdir(), 'admin-empty-'));
    scratch.push(elsewhere);
    const noDatabase = await admin(['users'], { DATA_DIR: elsewhere }, 'npm');
    expect([noDatabase.code, noDatabase.stderr]).toEqual([1, `admin: no database at ${elsewhere}/service.db (check DATA_DIR)\n`]);
    expect(existsSync(join(elsewhere, 'service.db'))).toBe(false);
  });

  it('refunds a paid order through Stripe once: the payment intent refunded in full, the seconds it bought taken back, the user told', async () => {
    const order = await paidOrder('bob', 'delivered');
    const session = fake.sessions.get(order.checkoutId!)!;
    const refunded = await admin(['refund', order.id, '--by', 'dave']);
    expect(refunded.stderr).toBe('');
    expect(refunded.stdout).toMatch(
      new RegExp(
        `^refunded \\$0\\.50 for order ${order.id} \\(refund re_\\w+ \\(succeeded\\)\\); took back 298 s \\(4 min 58 s\\); balance now 0 s\\n$`,
      ),
    );
    const refunds = fake.refundsFor(session.id);
    expect(refunds).toHaveLength(1);
    expect(refunds[0]).toMatchObject({
      amount: 50,
      currency: 'usd',
      payment_intent: session.payment_intent,
      metadata: { order_id: order.id },
      status: 'succeeded',
    });
    expect(svc.balance('test', 'bob')).toBe(0);
    const notice = await chat.waitForReply((r, to) => to.chatId === 'bob' && r.text.startsWith('Your payment of'));
    expect(notice.text).toBe('Your payment of $0.50 was refunded. I took the 4 min 58 s it bought off your balance. You now have 0 s.');

    const again = await admin(['refund', order.id]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(
      new RegExp(`^order ${order.id} was refunded already on .+: \\$0\\.50 \\(refund re_\\w+ \\(succeeded\\)\\); nothing done\\n$`),
    );
    expect(fake.refundsFor(session.id)).toHaveLength(1);
    expect(svc.balance('test', 'bob')).toBe(0);
    expect(chat.repliesTo('bob').filter((r) => r.text.startsWith('Your payment of'))).toHaveLength(1);
    const refundEntries = (await json<{ ledger: { kind: string; actor: string | null }[] }>(['order', order.id])).ledger;
    expect(refundEntries.filter((e) => e.kind === 'payment_refund').map((e) => e.actor)).toEqual(['dave']);
    expect((await admin(['order', order.id])).stdout).toMatch(/payment_refund +-298 .* dave$/m);

    // alice's order too: her balance (400 s after the grants) loses the 300 s her payment bought.
    const alice = await admin(['refund', (await svc.waitForOrder((o) => o.senderId === 'alice')).id]);
    expect(alice.stdout).toMatch(/took back 300 s \(5 min\); balance now 100 s/);
    const stats = await json<{
      revenue: { currency: string; payments: number; paidCents: number; refunds: number; refundedCents: number; netCents: number }[];
      audio: { deliveredOrders: number; transcribedHours: number };
      adjustedSeconds: number;
    }>(['stats', '--since', '1d']);
    expect(stats.revenue).toEqual([{ currency: 'usd', payments: 2, paidCents: 100, refunds: 2, refundedCents: 100, netCents: 0 }]);
    expect(stats.audio.deliveredOrders).toBe(2);
    expect(stats.audio.transcribedHours).toBeCloseTo((2 * 1.43) / 3600, 4);
    expect(stats.adjustedSeconds).toBe(102);
    const text = await admin(['stats', '--since', '1d']);
    expect(text.stdout).toMatch(/^revenue: +\$0\.00 net \(2 payments \$1\.00, 2 refunds \$1\.00\)$/m);
  });

  it('a refund cut off between Stripe and the ledger is completed by running it again, without a second refund', async () => {
    const order = await paidOrder('carol', 'delivered');
    const marker = join(svc.dataDir, 'crash-marker');
    const crashed = await admin(['refund', order.id], { CRASH_AT: 'refund-made', CRASH_MARKER: marker }, 'node');
    expect(crashed.signal).toBe('SIGKILL');
    expect(fake.refundsFor(order.checkoutId!)).toHaveLength(1);
    expect(svc.balance('test', 'carol')).toBe(298);

    const posts = () => fake.requests.filter((r) => r.method === 'POST' && r.path === '/v1/refunds').length;
    const postsBefore = posts();
    const completed = await admin(['refund', order.id]);
    expect(completed.stdout).toMatch(/^refunded \$0\.50 for order .+; took back 298 s/);
    expect(posts()).toBe(postsBefore);
    expect(fake.refundsFor(order.checkoutId!)).toHaveLength(1);
    expect(svc.balance('test', 'carol')).toBe(0);
  });

  it("records a refund made in Stripe's dashboard instead of refunding twice, and refuses what cannot be refunded", async () => {
    const order = await paidOrder('dora', 'delivered');
    const dashboard = fake.refundInDashboard(order.checkoutId!);
    const recorded = await admin(['refund', order.id]);
    expect(recorded.stdout).toContain(`(refund ${dashboard.id} (succeeded))`);
    expect(fake.refundsFor(order.checkoutId!)).toHaveLength(1);
    expect(svc.balance('test', 'dora')).toBe(0);

    // An order nobody paid for (its checkout still open).
    await chat.receive(chat.message('eve', [SPEECH]));
    const open = await svc.waitForOrder((o) => o.senderId === 'eve' && o.state === 'awaiting_payment' && o.checkoutId !== null);
    const refused = await admin(['refund', open.id]);
    expect([refused.code, refused.stderr]).toEqual([
      1,
      `admin: order ${open.id} was not paid (no purchase in the ledger); nothing to refund\n`,
    ]);
    const noStripe = await admin(['refund', order.id], { STRIPE_SECRET_KEY: '', STRIPE_WEBHOOK_SECRET: '' });
    expect(noStripe.code).toBe(0); // already recorded: nothing to ask Stripe
  });

  it('retries a failed order once its audio is back, and resends replies a platform refused', async () => {
    // The audio vanishes from storage before the job runs: the order fails and its seconds are refunded.
    let audio = '';
    const saved = join(await mkdtemp(join(tmpdir(), 'admin-audio-')), 'clip');
    scratch.push(dirname(saved));
    const failed = await paidOrder('fred', 'failed', async (order) => {
      audio = join(svc.dataDir, 'blobs', 'orders', order.id, '0');
      await copyFile(audio, saved);
      await rm(audio);
    });
    await chat.waitForReply((r, to) => to.chatId === 'fred' && r.text.startsWith('Sorry, the transcription failed'));
    expect(svc.balance('test', 'fred')).toBe(300);

    const refused = await admin(['retry', failed.id]);
    expect([refused.code, refused.stderr]).toEqual([
      1,
      `admin: order ${failed.id}: the audio of Front_Center.wav is no longer stored; cannot retry\n`,
    ]);
    await mkdir(dirname(audio), { recursive: true });
    await copyFile(saved, audio);

    const failedError = orderOf(failed.id).error;
    expect(failedError).toBeTruthy();
    const retried = await admin(['retry', failed.id.slice(0, 10), '--by', 'erin']);
    expect(retried.stdout).toBe(`order ${failed.id}: queued again (the 2 s refunded when it failed stay with the user)\n`);
    await svc.waitForOrder((o) => o.id === failed.id && o.state === 'delivered');
    const transcript = await chat.waitForReply((r, to) => to.chatId === 'fred' && r.kind === 'transcript');
    expect([transcript.text, ...(transcript.files ?? []).map((f) => f.content.toString('utf8'))].join('\n').toLowerCase()).toMatch(
      /front,? center/,
    );
    expect(svc.balance('test', 'fred')).toBe(300);
    // The retry reset the order's error; the operator still sees it, and who retried.
    const history = (await json<{ retries: { actor: string; orderState: string; orderError: string | null }[] }>(['order', failed.id]))
      .retries;
    expect(history).toEqual([expect.objectContaining({ actor: 'erin', orderState: 'failed', orderError: failedError })]);
    expect((await admin(['order', failed.id])).stdout).toMatch(/^retries\n.*\n\S+ \S+ +erin +failed \(/m);

    // Nothing left to retry (once every reply about it is recorded as sent): a clear refusal.
    await expect
      .poll(async () => (await json<{ replies: { state: string }[] }>(['order', failed.id])).replies.every((r) => r.state === 'sent'))
      .toBe(true);
    const nothing = await admin(['retry', failed.id]);
    expect([nothing.code, nothing.stderr]).toEqual([
      1,
      `admin: order ${failed.id} is delivered and every reply about it was sent; nothing to retry\n`,
    ]);

    // A reply the platform refused for good (the user had blocked the bot) is sent again on request.
    await expect
      .poll(() => svc.service.db.$client.prepare("SELECT count(*) AS n FROM outbox WHERE state = 'pending'").get())
      .toEqual({ n: 0 });
    chat.failNext(1, true);
    await chat.receive(chat.message('gina', [SPEECH]));
    const gina = await svc.waitForOrder((o) => o.senderId === 'gina' && o.state === 'awaiting_payment' && o.checkoutId !== null);
    await expect
      .poll(async () => (await json<{ replies: { key: string; state: string }[] }>(['order', gina.id])).replies)
      .toEqual([expect.objectContaining({ key: `quote:${gina.id}`, state: 'dead' })]);
    expect(chat.repliesTo('gina')).toEqual([]);
    const resent = await admin(['retry', gina.id]);
    expect(resent.stdout).toBe(`order ${gina.id}: 1 reply will be sent again\n`);
    const quote = await chat.waitForReply((r, to) => to.chatId === 'gina' && r.kind === 'quote');
    expect(quote.action?.url).toBe(orderOf(gina.id).checkoutUrl);
    // Sent now, and the error it was given up on is still on record, with who sent it again.
    type Report = { replies: { state: string; lastError: string | null }[]; retries: unknown[] };
    await expect.poll(async () => (await json<Report>(['order', gina.id])).replies).toEqual([expect.objectContaining({ state: 'sent' })]);
    const report = await json<Report>(['order', gina.id]);
    expect(report.retries).toEqual([
      expect.objectContaining({
        actor: userInfo().username,
        orderState: 'awaiting_payment',
        replies: [{ key: `quote:${gina.id}`, state: 'dead', attempts: 1, lastError: 'test outage' }],
      }),
    ]);
    expect((await admin(['order', gina.id])).stdout).toContain(`quote:${gina.id}: dead after 1 tries (test outage)`);
  });
});
