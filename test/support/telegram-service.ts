import { createTelegramChannel } from '../../bots/telegram/index';
import type { TelegramOptions } from '../../bots/telegram/options';
import { silentLogger } from '../../src/log';
import { FakeTelegram, UNPACED } from './fake-telegram';
import { startTestService, type TestService } from './service';

/** The service with one Telegram channel, and the loopback Bot API server it polls. */
export interface TelegramTestService {
  telegram: FakeTelegram;
  svc: TestService;
  stop(): Promise<void>;
}

/**
 * Starts a Bot API server and the service with a Telegram channel long-polling it. Sends are unpaced (pacing has
 * its own tests) unless `channel.sendLimits` says otherwise; `channel` overrides any other channel option and
 * `service` is handed to `startTestService`.
 */
export async function startTelegramService(
  options: {
    channel?: Partial<Omit<TelegramOptions, 'token' | 'apiRoot'>>;
    service?: Omit<Parameters<typeof startTestService>[0], 'channels'>;
  } = {},
): Promise<TelegramTestService> {
  const telegram = await new FakeTelegram().start();
  try {
    const channel = createTelegramChannel({
      log: silentLogger,
      polling: { timeoutSeconds: 5 },
      sendLimits: UNPACED,
      ...options.channel,
      token: telegram.token,
      apiRoot: telegram.url,
    });
    const svc = await startTestService({ ...options.service, channels: [channel] });
    return {
      telegram,
      svc,
      async stop() {
        await svc.stop();
        await telegram.stop();
      },
    };
  } catch (error) {
    await telegram.stop();
    throw error;
  }
}
