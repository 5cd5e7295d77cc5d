export { createTelegramChannel, TelegramChannel, type TelegramOptions } from './channel';
export type { WebhookOptions } from './webhook';
export type { FloodPolicy } from './flood';
