import type { Channel } from '../../src/ports/channel';
import { DiscordChannel } from './channel';
import type { DiscordOptions } from './options';

export { DiscordChannel } from './channel';
export type { DiscordOptions } from './options';

/** Creates the Discord channel: a gateway connection for messages and slash commands, REST for replies. */
export function createDiscordChannel(options: DiscordOptions): Channel {
  return new DiscordChannel(options);
}
