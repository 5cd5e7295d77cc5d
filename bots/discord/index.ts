export { createDiscordChannel, DiscordChannel, type DiscordOptions } from './channel';
