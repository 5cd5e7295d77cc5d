import type { Channel } from '../../src/ports/channel';
import { TelegramChannel } from './channel';
import type { TelegramOptions } from './options';

export { TelegramChannel } from './channel';
export type { TelegramOptions } from './options';
export type { WebhookOptions } from './webhook';
export type { FloodPolicy } from './flood';

/** Creates the Telegram channel (long polling by default, webhook when configured). */
export function createTelegramChannel(options: TelegramOptions): Channel {
  return new TelegramChannel(options);
}
