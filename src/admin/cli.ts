import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type Config } from '../config';
import type { BlobStore } from '../ports/blob-store';
import type { PaymentRefunds } from '../ports/payments';
import { invoicePayments } from '../db/schema';
import { silentLogger } from '../log';
import { scrubSecrets } from '../secrets';
import { refundInvoiceCharges } from '../orders/invoice-payments';
import type { PaymentMethods } from '../orders/payment-methods';
import { eq } from 'drizzle-orm';
import type { Db } from '../db';
import { parseSince } from '../durations';
import { Ledger } from '../ledger';
import { orderStates, type OrderState } from '../orders/states';
import { UsageError } from './errors';
import { cents, fields, seconds, table, when } from './format';
import { grantSeconds } from './grant';
import { findOrder, findUser, openServiceDatabase } from './lookup';
import { refundOrder } from './refund';
import { listOrders, listUsers, orderReport, stats, userReport, type LedgerEntry, type OrderReport, type OrderRow } from './reports';
import { retryOrder } from './retry';

const USAGE = `usage: npm run admin -- COMMAND [ARGS] [--json]
  users [--search TEXT] [--limit N]          users, newest first
  user USER                                  identity, balance, ledger, recent orders
  grant USER SECONDS --reason TEXT [--key K] [--by NAME]
                                             add seconds, or take them back with a negative number
  orders [--state STATE] [--since WHEN] [--user USER] [--limit N]
  order ORDER                                files, states, job, ledger entries, replies
  retry ORDER [--by NAME]                    queue a failed order again; resend its unsent replies
  refund ORDER [--by NAME]                   refund the order's card payment, once
  stats [--since WHEN]                       orders, audio hours, revenue, failures (default: 30 days)
USER: a user id, CHANNEL:PLATFORM-ID (telegram:12345, email:ann@example.com) or a platform id.
--by: who runs a grant, retry or refund, kept with it (default: the system user running admin).
ORDER: an order id or a unique prefix of 6+ characters. WHEN: 2026-11-01, 2026-11-01T12:00 (UTC), or 7d / 12h ago.`;

interface Options {
  json?: boolean;
  search?: string;
  limit?: string;
  reason?: string;
  key?: string;
  state?: string;
  since?: string;
  user?: string;
  by?: string;
  help?: boolean;
}

interface Command {
  positionals: string[];
  options: (keyof Options)[];
  run(context: Context, args: string[], options: Options): Promise<{ json: unknown; text: string }> | { json: unknown; text: string };
}

interface Context {
  config: Config;
  db: Db;
  ledger: Ledger;
  tools: AdminTools;
}

/** The adapters some commands need, chosen by the composition root (`src/app/admin.ts`). */
export interface AdminTools {
  /** The blob store the service uses (`retry` checks the audio is still there). */
  store(config: Config): BlobStore;
  /** Refunds of card payments (Stripe); undefined when Stripe is off. */
  refunds(config: Config): Promise<PaymentRefunds | undefined>;
  /** The payment methods as the service chooses them, for payments made inside a chat (Telegram Stars). */
  paymentMethods(config: Config): Promise<PaymentMethods>;
}

const DEFAULT_PERIOD_MS = 30 * 86_400_000;

const commands: Record<string, Command> = {
  users: {
    positionals: [],
    options: ['search', 'limit'],
    run({ db }, _, options) {
      const rows = listUsers(db, { search: options.search, limit: limitOf(options) });
      return {
        json: rows,
        text: table(
          ['id', 'channel', 'platform id', 'balance', 'orders', 'last order', 'created'],
          rows.map((u) => [u.id, u.channel, u.externalId, seconds(u.balanceSeconds), u.orders, when(u.lastOrderAt), when(u.createdAt)]),
        ),
      };
    },
  },
  user: {
    positionals: ['USER'],
    options: [],
    run({ db, ledger }, [ref]) {
      const report = userReport(db, ledger, findUser(db, ref!));
      const { user } = report;
      return {
        json: report,
        text: [
          fields([
            ['user', user.id],
            ['identity', `${user.channel} ${user.externalId}`],
            ['language', user.language ?? 'auto'],
            ['created', when(user.createdAt)],
            ['balance', seconds(report.balanceSeconds)],
            ['owed', seconds(report.owedSeconds)],
          ]),
          `\nledger (${report.ledger.length} entries)`,
          ledgerTable(report.ledger),
          `\nrecent orders`,
          ordersTable(report.recentOrders),
        ].join('\n'),
      };
    },
  },
  grant: {
    positionals: ['USER', 'SECONDS'],
    options: ['reason', 'key', 'by'],
    run({ db, ledger }, [ref, amount], options) {
      if (!/^-?\d{1,9}$/.test(amount!) || Number(amount) === 0)
        throw new UsageError(`SECONDS must be a whole number other than 0, got '${amount}'`);
      const reason = options.reason?.trim();
      if (!reason) throw new UsageError('--reason TEXT is required: it is kept with the ledger entry');
      if (reason.length > 500) throw new UsageError('--reason is longer than 500 characters');
      if (options.key !== undefined && !/^[\w.:-]{1,100}$/.test(options.key))
        throw new UsageError('--key must be 1 to 100 of A-Z a-z 0-9 _ . : -');
      const user = findUser(db, ref!);
      const result = grantSeconds({ db, ledger }, user, { seconds: Number(amount), reason, key: options.key, actor: actorOf(options) });
      const who = `${user.channel}:${user.externalId}`;
      const verb =
        result.entry.seconds >= 0
          ? `granted ${seconds(result.entry.seconds)} to ${who}`
          : `took back ${seconds(-result.entry.seconds)} from ${who}`;
      return {
        json: result,
        text: result.applied
          ? `${verb}; balance now ${seconds(result.balanceSeconds)} (ledger entry ${result.entry.id})`
          : `already done: ${verb} on ${when(result.entry.createdAt)} (ledger entry ${result.entry.id}); balance ${seconds(result.balanceSeconds)}`,
      };
    },
  },
  orders: {
    positionals: [],
    options: ['state', 'since', 'user', 'limit'],
    run({ db }, _, options) {
      if (options.state !== undefined && !orderStates.includes(options.state as OrderState)) {
        throw new UsageError(`--state must be one of ${orderStates.join(', ')}`);
      }
      const userId = options.user !== undefined ? findUser(db, options.user).id : undefined;
      const rows = listOrders(db, {
        state: options.state as OrderState | undefined,
        since: sinceOf(options),
        userId,
        limit: limitOf(options),
      });
      return { json: rows, text: ordersTable(rows) };
    },
  },
  order: {
    positionals: ['ORDER'],
    options: [],
    run({ db }, [ref]) {
      const report = orderReport(db, findOrder(db, ref!));
      const { order } = report;
      return {
        json: report,
        text: [
          fields([
            ['order', order.id],
            ['user', `${report.user.channel}:${report.user.externalId} (${report.user.id})`],
            ['state', order.state + (order.error ? ` (${order.error})` : '')],
            ['created', when(order.createdAt)],
            ['updated', when(order.updatedAt)],
            ['queued', when(order.queuedAt)],
            ['delivered', when(order.deliveredAt)],
            ['seconds', `${seconds(order.seconds)}; held from balance ${order.heldSeconds} s, paid for ${order.missingSeconds} s`],
            ['price', cents(order.amountCents, order.currency)],
            ['checkout', order.checkoutId],
            ['job', order.runnerJobId ? `${order.runnerJobId} (attempt ${order.attempts})` : `- (${order.attempts} attempts)`],
            ['language', order.language ?? 'auto'],
            ['blobs', order.purgedAt ? `deleted by retention ${when(order.purgedAt)}` : 'kept'],
          ]),
          '\nfiles',
          table(
            ['#', 'name', 'bytes', 'duration', 'state', 'error'],
            report.files.map((f) => [
              f.position,
              f.name,
              f.bytes,
              f.duration === null ? null : `${f.duration.toFixed(1)} s`,
              f.state,
              f.error,
            ]),
          ),
          '\nledger',
          ledgerTable(report.ledger),
          '\nreplies',
          table(
            ['key', 'kind', 'state', 'tries', 'created', 'sent', 'last error'],
            report.replies.map((r) => [r.key, r.kind, r.state, r.attempts, when(r.createdAt), when(r.sentAt), r.lastError]),
          ),
          ...(report.retries.length === 0 ? [] : ['\nretries', retriesTable(report.retries)]),
        ].join('\n'),
      };
    },
  },
  retry: {
    positionals: ['ORDER'],
    options: ['by'],
    async run({ db, config, tools }, [ref], options) {
      const order = findOrder(db, ref!);
      const result = await retryOrder({ db, store: tools.store(config) }, order, actorOf(options));
      const parts = [];
      if (result.requeued) parts.push(`queued again (the ${seconds(order.seconds)} refunded when it failed stay with the user)`);
      if (result.replies > 0) parts.push(`${result.replies} ${result.replies === 1 ? 'reply' : 'replies'} will be sent again`);
      return { json: { orderId: order.id, ...result }, text: `order ${order.id}: ${parts.join('; ')}` };
    },
  },
  refund: {
    positionals: ['ORDER'],
    options: ['by'],
    async run({ db, ledger, config, tools }, [ref], options) {
      const order = findOrder(db, ref!);
      const actor = actorOf(options);
      // Card payments through Stripe, and payments made inside a chat (Telegram Stars) through their provider.
      const card = await refundOrder({ db, ledger, refunds: await tools.refunds(config) }, order, actor);
      const hasCharges = db.select().from(invoicePayments).where(eq(invoicePayments.orderId, order.id)).all().length > 0;
      const charges = hasCharges
        ? await refundInvoiceCharges({ db, ledger, methods: await tools.paymentMethods(config), log: silentLogger }, order.id, actor)
        : [];
      const lines = card.entries.map((entry) => {
        const amount = cents(-(entry.amountCents ?? 0), entry.currency);
        return card.refunds.some((r) => entry.note?.includes(r.id))
          ? `refunded ${amount} for order ${order.id} (${entry.note}); took back ${seconds(-entry.seconds)}`
          : `order ${order.id} was refunded already on ${when(entry.createdAt)}: ${amount} (${entry.note})`;
      });
      for (const charge of charges) {
        const amount = cents(charge.amount, charge.currency);
        lines.push(
          charge.already
            ? `order ${order.id} was refunded already: ${amount} (charge ${charge.chargeId})`
            : `refunded ${amount} for order ${order.id} (charge ${charge.chargeId}); took back ${seconds(charge.takenBackSeconds)}`,
        );
      }
      const applied = card.applied || charges.some((c) => !c.already);
      const balance = ledger.balance(order.userId);
      return {
        json: { orderId: order.id, applied, card, charges, balanceSeconds: balance },
        text: `${lines.join('\n')}${applied ? `; balance now ${seconds(balance)}` : '; nothing done'}`,
      };
    },
  },
  stats: {
    positionals: [],
    options: ['since'],
    run({ db }, _, options) {
      const s = stats(db, sinceOf(options) ?? Date.now() - DEFAULT_PERIOD_MS);
      const states = Object.entries(s.orders)
        .map(([state, n]) => `${state} ${n}`)
        .join(', ');
      return {
        json: s,
        text: fields([
          ['period', `${when(s.since)} .. ${when(s.until)} UTC`],
          ['orders', `${s.ordersTotal}${states ? ` (${states})` : ''}`],
          [
            'audio',
            `${s.audio.transcribedHours.toFixed(2)} h transcribed in ${s.audio.deliveredOrders} delivered orders (${s.audio.billedHours.toFixed(2)} h billed)`,
          ],
          [
            'revenue',
            s.revenue.length === 0
              ? 'none'
              : s.revenue
                  .map(
                    (r) =>
                      `${cents(r.netCents, r.currency)} net (${r.payments} payments ${cents(r.paidCents, r.currency)}, ${r.refunds} refunds ${cents(r.refundedCents, r.currency)})`,
                  )
                  .join('; '),
          ],
          [
            'failures',
            `${s.failures.failedOrders} failed orders, ${s.failures.failedFiles} failed files, ${s.failures.deadReplies} replies given up, ${s.failures.expiredCheckouts} checkouts expired`,
          ],
          ['users', `${s.users.new} new, ${s.users.active} with orders`],
          ['adjusted', seconds(s.adjustedSeconds)],
        ]),
      };
    },
  },
};

function ledgerTable(entries: LedgerEntry[]): string {
  return table(
    ['id', 'when', 'kind', 'seconds', 'money', 'order', 'key', 'note', 'by'],
    entries.map((e) => [e.id, when(e.createdAt), e.kind, e.seconds, cents(e.amountCents, e.currency), e.orderId, e.key, e.note, e.actor]),
  );
}

/** Each retry with what it reset: the order's error, and every unsent reply's tries and last error. */
function retriesTable(retries: OrderReport['retries']): string {
  return table(
    ['when', 'by', 'order was', 'errors before the retry'],
    retries.map((r) => [
      when(r.createdAt),
      r.actor,
      r.orderState + (r.orderError ? ` (${r.orderError})` : ''),
      r.replies
        .map((reply) => `${reply.key}: ${reply.state} after ${reply.attempts} tries${reply.lastError ? ` (${reply.lastError})` : ''}`)
        .join('; ') || null,
    ]),
  );
}

/** `--by`, or the system user running admin: who ran a grant, retry or refund. */
function actorOf(options: Options): string {
  if (options.by !== undefined) {
    const by = options.by.trim();
    if (!/^[^\p{Cc}]{1,100}$/u.test(by)) throw new UsageError('--by must be 1 to 100 characters, no control characters');
    return by;
  }
  try {
    return userInfo().username;
  } catch {
    // A uid without a passwd entry (some containers).
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

function ordersTable(rows: OrderRow[]): string {
  return table(
    ['id', 'created', 'state', 'user', 'files', 'seconds', 'price', 'error'],
    rows.map((o) => [o.id, when(o.createdAt), o.state, o.user, o.files, o.seconds, cents(o.amountCents, o.currency), o.error]),
  );
}

function limitOf(options: Options): number {
  if (options.limit === undefined) return 50;
  if (!/^\d{1,6}$/.test(options.limit) || Number(options.limit) < 1)
    throw new UsageError(`--limit must be a whole number from 1, got '${options.limit}'`);
  return Number(options.limit);
}

function sinceOf(options: Options): number | undefined {
  if (options.since === undefined) return undefined;
  const at = parseSince(options.since);
  if (at === undefined)
    throw new UsageError(`--since must be a date (2026-11-01, 2026-11-01T12:00) or a duration back (7d, 12h), got '${options.since}'`);
  return at;
}

/** A negative number is an argument (`grant USER -300`), not an option: hidden from parseArgs behind a marker. */
const NEGATIVE = '\u0000';

export interface AdminOutcome {
  /** 0 done, 1 refused or not found, 2 bad arguments or configuration. */
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The operator's command, `npm run admin -- COMMAND ...`: looks up users and orders, grants seconds,
 * retries and refunds orders, and reads totals, on the service's database (`DATA_DIR` of `env`),
 * safely beside the running service. Tables for people, `--json` for scripts; a failure is one line.
 */
export async function runAdmin(argv: string[], env: NodeJS.ProcessEnv, tools: AdminTools): Promise<AdminOutcome> {
  const outcome = await outcomeOf(argv, env, tools);
  // Recorded errors (a reply's last error from before they were scrubbed at the source) and a payment
  // platform's error message can carry a credential; what the operator's terminal shows does not.
  return { ...outcome, stdout: scrubSecrets(outcome.stdout), stderr: scrubSecrets(outcome.stderr) };
}

async function outcomeOf(argv: string[], env: NodeJS.ProcessEnv, tools: AdminTools): Promise<AdminOutcome> {
  try {
    return { code: 0, stdout: `${await run(argv, env, tools)}\n`, stderr: '' };
  } catch (error) {
    if (error instanceof UsageError)
      return { code: 2, stdout: '', stderr: `admin: ${error.message} (npm run admin -- help shows the commands)\n` };
    if (error instanceof ConfigError) return { code: 2, stdout: '', stderr: `admin: configuration error: ${error.message}\n` };
    return { code: 1, stdout: '', stderr: `admin: ${(error as Error).message}\n` };
  }
}

async function run(argv: string[], env: NodeJS.ProcessEnv, tools: AdminTools): Promise<string> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv.map((a) => (/^-\d+$/.test(a) ? `${NEGATIVE}${a}` : a)),
      allowPositionals: true,
      options: {
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        search: { type: 'string' },
        limit: { type: 'string' },
        reason: { type: 'string' },
        key: { type: 'string' },
        state: { type: 'string' },
        since: { type: 'string' },
        user: { type: 'string' },
        by: { type: 'string' },
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const restore = (v: string) => v.replaceAll(NEGATIVE, '');
  const options = Object.fromEntries(Object.entries(parsed.values).map(([k, v]) => [k, typeof v === 'string' ? restore(v) : v])) as Options;
  const [name, ...args] = parsed.positionals.map(restore);
  if (options.help || name === 'help') return USAGE;
  const command = name ? commands[name] : undefined;
  if (!command) throw new UsageError(name ? `unknown command '${name}'` : 'no command given');
  if (args.length !== command.positionals.length) {
    throw new UsageError(
      `${name} takes ${command.positionals.length ? command.positionals.join(' ') : 'no arguments'}, got ${args.length ? args.join(' ') : 'none'}`,
    );
  }
  const stray = Object.keys(options).filter((o) => o !== 'json' && !command.options.includes(o as keyof Options));
  if (stray.length > 0) throw new UsageError(`${name} does not take --${stray[0]}`);

  const config = loadConfig(env);
  const db = openServiceDatabase(config.dataDir);
  try {
    const result = await command.run({ config, db, ledger: new Ledger(db), tools }, args, options);
    return options.json ? JSON.stringify(result.json, null, 2) : result.text;
  } finally {
    db.$client.close();
  }
}
