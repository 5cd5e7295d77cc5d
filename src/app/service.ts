import type { Server } from 'node:http';
import { join } from 'node:path';
import type { Config } from '../config';
import { openDatabase, type Db } from '../db';
import { registerStateMetrics } from '../http/state-metrics';
import { createHttpApp } from '../http/app';
import { Intake } from '../intake/intake';
import { Ledger } from '../ledger';
import type { Logger } from '../log';
import { InvoicePayments } from '../orders/invoice-payments';
import { OrderPayments } from '../orders/order-payments';
import { PaymentMethods, type PaymentMethod } from '../orders/payment-methods';
import { Quoting } from '../orders/quote';
import { OutboxSender } from '../outbox/sender';
import type { BlobStore } from '../ports/blob-store';
import type { Channel, ChannelName } from '../ports/channel';
import type { PaymentHandler, Payments } from '../ports/payments';
import type { Runner } from '../ports/runner';
import { Dispatcher } from '../processors/dispatcher';
import { Loop } from '../processors/loop';
import { Tracker } from '../processors/tracker';
import { Wakeups } from '../processors/wakeups';
import { runnerFromConfig } from './runner';
import { blobStoreFromConfig } from './storage';

/** The parts chosen once at start; tests hand in their own. */
export interface ServiceParts {
  channels: Channel[];
  payments?: Payments;
  /** Channels billed by a provider of their own (Telegram: Stars), with its prices; the others use `payments`. */
  channelPayments?: Partial<Record<ChannelName, PaymentMethod>>;
  runner?: Runner;
  store?: BlobStore;
  /** The Stripe webhook, when payments are Stripe. Built by the caller around the core's payment handler. */
  stripeWebhook?: (handler: PaymentHandler) => import('koa').Middleware;
}

/**
 * The whole service for one process: database, intake, background processors and HTTP server.
 * Lifecycle: `start()` opens everything; `stop()` stops intake first, lets running work reach a
 * durable state and closes the rest.
 */
export class Service {
  readonly db: Db;
  readonly ledger: Ledger;
  readonly store: BlobStore;
  readonly runner: Runner;
  readonly intake: Intake;
  readonly orderPayments: OrderPayments;
  /** Payments made inside a chat (Telegram Stars), and their refunds for the operator. */
  readonly invoicePayments: InvoicePayments;
  readonly wakeups = new Wakeups();
  private readonly loops: Loop[];
  private readonly channels: Channel[];
  private readonly http;
  private server?: Server;

  constructor(
    readonly config: Config,
    parts: ServiceParts,
    private readonly log: Logger,
  ) {
    this.db = openDatabase(join(config.dataDir, 'service.db'));
    this.ledger = new Ledger(this.db);
    this.store = parts.store ?? blobStoreFromConfig(config);
    this.runner = parts.runner ?? runnerFromConfig(config, log, this.store);
    this.channels = parts.channels;
    const { db, ledger, store, runner, wakeups } = this;
    const prices = config.pricing;
    const methods = new PaymentMethods(parts.payments ? { payments: parts.payments, prices } : undefined, parts.channelPayments);
    const quoting = new Quoting({ db, ledger, prices, payments: parts.payments, methods, wakeups, log });
    this.intake = new Intake({ db, ledger, store, quoting, wakeups, log, freeSeconds: prices.freeSeconds, limits: config.limits });
    this.orderPayments = new OrderPayments({
      db,
      ledger,
      store,
      prices,
      wakeups,
      log,
      payments: parts.payments,
      methods,
      keepExpiredAudioHours: config.expiredAudioKeepHours,
    });
    this.invoicePayments = new InvoicePayments({ db, ledger, methods, payments: this.orderPayments, wakeups, log });
    for (const method of Object.values(parts.channelPayments ?? {})) method.payments.attach?.(this.invoicePayments);

    const dispatcher = new Dispatcher({ db, runner, wakeups, log });
    const tracker = new Tracker({ db, ledger, runner, store, wakeups, log });
    const sender = new OutboxSender({ db, store, channels: parts.channels, log });
    const dispatch = new Loop('dispatcher', 1000, dispatcher.tick, log);
    const track = new Loop('tracker', runner.pollIntervalMs ?? 500, tracker.tick, log);
    const send = new Loop('outbox', 1000, sender.tick, log);
    const recover = new Loop(
      'checkouts',
      30_000,
      async () => {
        await quoting.openMissingCheckouts();
        await this.orderPayments.sweep();
      },
      log,
    );
    wakeups.on('queued', dispatch.wake);
    wakeups.on('outbox', send.wake);
    this.loops = [dispatch, track, send, recover];

    registerStateMetrics(db);
    this.http = createHttpApp({ db, log, stripeWebhook: parts.stripeWebhook?.(this.orderPayments) });
  }

  /** Listens on HTTP, starts the background processors, then the channels. Resolves with the bound port. */
  async start(): Promise<number> {
    const { port, host } = this.config;
    this.server = await new Promise<Server>((resolve, reject) => {
      const server = this.http.listen(port, host, () => resolve(server));
      server.once('error', reject);
    });
    for (const loop of this.loops) loop.start();
    for (const channel of this.channels) await channel.start(this.intake.handle);
    const address = this.server.address();
    const bound = typeof address === 'object' && address ? address.port : port;
    this.log.info({ port: bound, channels: this.channels.map((c) => c.name) }, 'service started');
    return bound;
  }

  /** Stops intake, the processors and the runner (running jobs are re-run at the next start), then HTTP and the database. */
  async stop(): Promise<void> {
    for (const channel of this.channels) await channel.stop().catch((error) => this.log.warn({ err: error }, 'channel stop failed'));
    for (const loop of this.loops) await loop.stop();
    await this.runner.close();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections?.();
    this.db.$client.close();
    this.log.info('service stopped');
  }
}
