import type { Logger } from '../../src/log';
import type { HandlerRetry } from '../shared/record';
import type { TypingOptions } from '../shared/typing';
import type { DownloadPolicy } from './download';

/** Everything the Discord channel can be told; only `token` and `log` are needed. */
export interface DiscordOptions {
  /** The bot token from the Developer Portal (Bot → Reset Token). */
  token: string;
  /** DISCORD_API_ROOT: Discord's REST base by default; the gateway URL comes from its `/gateway/bot`. */
  apiRoot?: string;
  log: Logger;
  /** How long `start()` waits for the gateway connection to be ready. Default 60 s. */
  readyTimeoutMs?: number;
  /** Back-off while the core cannot record a message; `defaultHandlerRetry` when absent. */
  handlerRetry?: HandlerRetry;
  typing?: Partial<TypingOptions>;
  download?: Partial<DownloadPolicy>;
  /** Attempts after a 5xx or a dropped connection, per REST call. Default 3. */
  restRetries?: number;
  /** How long one REST request may go unanswered before it is abandoned (and retried as a failure). Default 30 s. */
  callTimeoutMs?: number;
}
