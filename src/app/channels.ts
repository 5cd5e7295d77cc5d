import type { Config } from '../config';
import type { Logger } from '../log';
import type { Channel } from '../ports/channel';

/**
 * Builds every channel whose credentials are configured, and says once which are off.
 * Adapters are loaded only when used, so a deployment without email never loads the IMAP stack.
 */
export async function channelsFromConfig(
  config: Config,
  log: Logger,
  payments: { stars?: import('../../bots/telegram').TelegramStars } = {},
): Promise<Channel[]> {
  const channels: Channel[] = [];
  if (config.telegram) {
    const { createTelegramChannel } = await import('../../bots/telegram');
    channels.push(createTelegramChannel({ ...config.telegram, stars: payments.stars, log: log.child({ channel: 'telegram' }) }));
  } else {
    log.info('Telegram off: TELEGRAM_BOT_TOKEN is not set');
  }
  if (config.mail) {
    const { createMailChannel } = await import('../../mail');
    channels.push(createMailChannel({ ...config.mail, maxFileBytes: config.limits.maxFileBytes, log: log.child({ channel: 'email' }) }));
  } else {
    log.info('Email off: IMAP_HOST is not set');
  }
  if (config.discord) {
    const { createDiscordChannel } = await import('../../bots/discord');
    channels.push(createDiscordChannel({ ...config.discord, log: log.child({ channel: 'discord' }) }));
  } else {
    log.info('Discord off: DISCORD_BOT_TOKEN is not set');
  }
  if (channels.length === 0)
    log.warn('No channel is configured: nothing will come in. Set TELEGRAM_BOT_TOKEN, DISCORD_BOT_TOKEN or IMAP_HOST.');
  return channels;
}
