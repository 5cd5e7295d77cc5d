import type { Server } from 'node:http';
import { join } from 'node:path';
import { BACKUP_CHECK_MS, BackupSchedule } from '../backup/schedule';
import { ConfigError, type Config } from '../config';
import { openDatabase, type Db } from '../db';
import { holdServiceLock, serviceLockPath, type ServiceLock } from '../db/service-lock';
import { registerStateMetrics } from '../http/state-metrics';
import { createHttpApp } from '../http/app';
import { modelInfo } from '../domain/models';
import { locateModel } from '../../whisper-container/src/config';
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
import { Retention } from '../retention/retention';
import { openBackupPlace } from './backup-place';
import { runnerFromConfig } from './runner';
import { ChannelSupervisor } from './channel-supervisor';
import { blobStoreFromConfig } from './storage';

/** How often retention looks for old blobs and records: deleting a day late is fine, scanning every minute is not. */
const RETENTION_SWEEP_MS = 60 * 60_000;

/** How often chat payments are matched to the ledger: a charge the core failed to credit waits at most this long. */
const CHARGE_RECONCILE_MS = 60 * 60_000;

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
  /** Back-off for a channel that cannot start (tests shorten it). */
  channelRetry?: { minDelayMs?: number; maxDelayMs?: number };
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
  private readonly sender: OutboxSender;
  private readonly supervisor: ChannelSupervisor;
  private readonly http;
  private server?: Server;
  private readonly lock: ServiceLock;

  constructor(
    readonly config: Config,
    parts: ServiceParts,
    private readonly log: Logger,
  ) {
    // Held while the service runs: admin and restore ask for it before they change the database.
    // A second service would run its own workers on the same database: each took the other's jobs for lost and
    // failed them, refunded. Refused before anything is opened.
    this.lock = holdServiceLock(config.dataDir);
    if (!this.lock.held) {
      throw new ConfigError(
        `another service is running on DATA_DIR ${config.dataDir} (it holds ${serviceLockPath(config.dataDir)}); one service per DATA_DIR: stop it first`,
      );
    }
    this.db = openDatabase(join(config.dataDir, 'service.db'));
    this.ledger = new Ledger(this.db);
    this.store = parts.store ?? blobStoreFromConfig(config);
    this.runner = parts.runner ?? runnerFromConfig(config, log, this.store);
    this.supervisor = new ChannelSupervisor(parts.channels, { log, ...parts.channelRetry });
    const { db, ledger, store, runner, wakeups } = this;
    const prices = config.pricing;
    const methods = new PaymentMethods(parts.payments ? { payments: parts.payments, prices } : undefined, parts.channelPayments);
    const quoting = new Quoting({ db, ledger, prices, payments: parts.payments, methods, wakeups, log });
    const abuse = config.abuse;
    this.intake = new Intake({
      db,
      ledger,
      store,
      quoting,
      wakeups,
      log,
      freeSeconds: prices.freeSeconds,
      limits: config.limits,
      grants: {
        freeSeconds: prices.freeSeconds,
        perEmailDomainPerDay: abuse.freeGrantsPerEmailDomainPerDay,
        perFreeMailProviderPerDay: abuse.freeGrantsPerFreeMailProviderPerDay,
        discordMinAccountAgeMs: abuse.discordMinAccountAgeMs,
      },
      flood: { burst: abuse.userMessagesPerMinute, perMinute: abuse.userMessagesPerMinute },
      helpPerHour: abuse.helpRepliesPerHour,
      maxConcurrent: abuse.maxConcurrentIntake,
      maxConcurrentProbes: abuse.maxConcurrentProbes,
      probeSecondsPerMessage: abuse.probeSecondsPerMessage,
      downloadIdleMs: abuse.downloadIdleMs,
      maxFilesPerMessage: config.limits.maxFilesPerMessage,
      model: modelInfo(config.whisper.model ?? locateModel(undefined, config.dataDir)),
    });
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

    const dispatcher = new Dispatcher({ db, ledger, runner, wakeups, log });
    const tracker = new Tracker({ db, ledger, runner, store, wakeups, log });
    const sender = (this.sender = new OutboxSender({ db, store, channels: parts.channels, log }));
    const dispatch = new Loop('dispatcher', 1000, dispatcher.tick, log);
    const track = new Loop('tracker', runner.pollIntervalMs ?? 500, tracker.tick, log);
    // One reply loop per channel, so a stalled platform never holds up the others.
    const sends = sender.lanes().map((lane) => new Loop(`outbox:${lane.channel}`, 1000, lane.tick, log));
    const cleanup = new Loop('audio-cleanup', 60_000, sender.cleanup.tick, log);
    const recover = new Loop(
      'checkouts',
      30_000,
      async () => {
        await quoting.openMissingCheckouts();
        await this.orderPayments.sweep();
      },
      log,
    );
    const { resultDays, recordDays } = config.retention;
    const retention = new Retention({ db, store, resultDays, recordDays, log });
    const prune = new Loop('retention', RETENTION_SWEEP_MS, async () => void (await retention.sweep()), log);
    // Chat payments (Stars) recorded but never credited: once at start, then hourly.
    const reconcile = new Loop('charges', CHARGE_RECONCILE_MS, async () => void (await this.invoicePayments.reconcile()), log);
    wakeups.on('queued', dispatch.wake);
    wakeups.on('outbox', () => {
      sender.nudge();
      sends.forEach((send) => send.wake());
    });
    runner.onSettled?.(track.wake);
    this.loops = [dispatch, track, ...sends, cleanup, recover, prune, reconcile];
    this.loops.push(...this.backupLoop(config, log));

    registerStateMetrics(db);
    this.http = createHttpApp({
      db,
      log,
      channels: () => this.supervisor.states(),
      metricsToken: config.metricsToken,
      stripeWebhook: parts.stripeWebhook?.(this.orderPayments),
    });
  }

  /** Backups on the schedule `BACKUP_INTERVAL` sets, on this process's own connection (its writes carry into the copy). */
  private backupLoop(config: Config, log: Logger): Loop[] {
    const { target, intervalMs, keep } = config.backup;
    if (!intervalMs) {
      log.info('Scheduled backups off: BACKUP_INTERVAL is not set (npm run backup takes one now)');
      return [];
    }
    const place = openBackupPlace(target);
    const schedule = new BackupSchedule({ sqlite: this.db.$client, workDir: config.dataDir, place, intervalMs, keep, log });
    log.info({ to: place.label, everyMinutes: intervalMs / 60_000, keep }, 'database backups scheduled');
    return [new Loop('backup', BACKUP_CHECK_MS, async () => void (await schedule.tick()), log)];
  }

  /**
   * Listens on HTTP, starts the background processors, then the channels. Resolves with the bound port once
   * every channel has tried to start once; one that failed keeps retrying (see `/healthz`).
   */
  async start(): Promise<number> {
    const { port, host } = this.config;
    this.server = await new Promise<Server>((resolve, reject) => {
      const server = this.http.listen(port, host, () => resolve(server));
      server.once('error', reject);
    });
    await this.runner.start?.();
    for (const loop of this.loops) loop.start();
    // A channel that cannot start is retried in the background; the others and the service go on.
    await this.supervisor.start(this.intake.handle);
    const address = this.server.address();
    const bound = typeof address === 'object' && address ? address.port : port;
    this.log.info({ host, port: bound, channels: this.supervisor.states() }, 'service started');
    return bound;
  }

  /** Stops intake, the processors and the runner (running jobs are re-run at the next start), then HTTP and the database. */
  async stop(): Promise<void> {
    await this.supervisor.stop();
    await this.sender.close();
    for (const loop of this.loops) await loop.stop();
    await this.runner.close();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections?.();
    this.db.$client.close();
    this.lock.release();
    this.log.info('service stopped');
  }
}
