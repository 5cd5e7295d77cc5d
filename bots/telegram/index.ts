import type { Logger } from '../../src/log';
import type { Channel } from '../../src/ports/channel';
import { defaultHandlerRetry, type HandlerRetry } from '../shared/record';
import { BotApi, defaultRetryPolicy, type RetryPolicy } from './api';
import { TelegramChannel } from './channel';
import type { TelegramOptions } from './options';
import { TelegramStars } from './stars';

export { TelegramChannel } from './channel';
export type { TelegramOptions } from './options';
export type { WebhookOptions } from './webhook';
export { TelegramStars, STARS_CURRENCY, INVOICE_TTL_SECONDS } from './stars';

/** Creates the Telegram channel (long polling by default, webhook when configured). */
export function createTelegramChannel(options: TelegramOptions): Channel {
  return new TelegramChannel(options);
}

/**
 * Telegram Stars as the `Payments` port: give it to the channel (`stars` option) so it sees pre-checkouts and
 * payments, and to the core as the Telegram channel's payment method. Alone (no channel) it can refund.
 */
export function createTelegramStars(options: {
  token: string;
  apiRoot?: string;
  log: Logger;
  retry?: Partial<RetryPolicy>;
  handlerRetry?: HandlerRetry;
}): TelegramStars {
  const log = options.log.child({ payments: 'telegram-stars' });
  const api = new BotApi(options.token, options.apiRoot ?? 'https://api.telegram.org', log, { ...defaultRetryPolicy, ...options.retry });
  return new TelegramStars(api, log, options.handlerRetry ?? defaultHandlerRetry);
}
