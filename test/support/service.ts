import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { eq, and } from 'drizzle-orm';
import type { DestinationStream } from 'pino';
import { channelsFromConfig } from '../../src/app/channels';
import { loadConfig } from '../../src/config';
import { orders, users } from '../../src/db/schema';
import { createLogger } from '../../src/log';
import { paymentsFromConfig } from '../../src/app/payments';
import type { Channel, ChannelName } from '../../src/ports/channel';
import type { Payments } from '../../src/ports/payments';
import type { Runner } from '../../src/ports/runner';
import { Service, type ServiceParts } from '../../src/app/service';

/** The model `npm ci` prepared; every test that transcribes uses it. */
export const PREPARED_MODEL = resolve('data/models/ggml-tiny.en.bin');

export type OrderRow = typeof orders.$inferSelect & { senderId: string };

export interface TestService {
  service: Service;
  /** `http://127.0.0.1:PORT` */
  url: string;
  dataDir: string;
  /** The user's balance in seconds (0 for someone never seen). */
  balance(channel: ChannelName, senderId: string): number;
  orders(): OrderRow[];
  waitForOrder(predicate: (order: OrderRow) => boolean, timeoutMs?: number): Promise<OrderRow>;
  stop(): Promise<void>;
}

/**
 * Runs the real service in this process on a temporary DATA_DIR, loopback HTTP on a free port, the
 * real local Whisper worker and prepared model. `env` is read like the real environment, so channels
 * and Stripe configured there are built exactly as `npm start` builds them; `channels` are added.
 * `logTo` receives the service's log lines (JSON, info and up) for tests that check what the operator sees.
 */
export async function startTestService(
  options: {
    env?: Record<string, string>;
    channels?: Channel[];
    payments?: Payments;
    runner?: Runner;
    channelRetry?: ServiceParts['channelRetry'];
    logTo?: DestinationStream;
  } = {},
): Promise<TestService> {
  if (!existsSync(PREPARED_MODEL)) throw new Error(`${PREPARED_MODEL} missing: run npm ci (it prepares the model)`);
  const dataDir = await mkdtemp(join(tmpdir(), 'service-'));
  const config = loadConfig({
    DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    PUBLIC_URL: 'http://127.0.0.1:8080',
    WHISPER_MODEL: PREPARED_MODEL,
    WHISPER_THREADS: '2',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...options.env,
  });
  const log = createLogger(options.logTo ? 'info' : config.logLevel, options.logTo);
  const { stars, ...fromConfig } = await paymentsFromConfig(config, log);
  const channels = [...(await channelsFromConfig(config, log, { stars })), ...(options.channels ?? [])];
  const service = new Service(
    config,
    {
      channels,
      ...fromConfig,
      ...(options.payments ? { payments: options.payments } : {}),
      runner: options.runner,
      channelRetry: options.channelRetry,
    },
    log,
  );
  const port = await service.start();

  const list = (): OrderRow[] =>
    service.db
      .select()
      .from(orders)
      .innerJoin(users, eq(orders.userId, users.id))
      .all()
      .map((row) => ({ ...row.orders, senderId: row.users.externalId }));

  return {
    service,
    url: `http://127.0.0.1:${port}`,
    dataDir,
    balance(channel, senderId) {
      const user = service.db
        .select()
        .from(users)
        .where(and(eq(users.channel, channel), eq(users.externalId, senderId)))
        .get();
      return user ? service.ledger.balance(user.id) : 0;
    },
    orders: list,
    async waitForOrder(predicate, timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = list().find(predicate);
        if (hit) return hit;
        if (Date.now() > deadline)
          throw new Error(`no matching order within ${timeoutMs} ms: ${JSON.stringify(list().map((o) => o.state))}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
    async stop() {
      await service.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
