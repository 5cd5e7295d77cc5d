import type { SendLimits } from './pacer';
import type { Logger } from '../../src/log';
import type { HandlerRetry } from '../shared/record';
import type { TypingOptions } from '../shared/typing';
import type { RetryPolicy } from './api';
import type { StarsUpdates } from './inbound';
import type { PollingOptions } from './polling';
import type { WebhookOptions } from './webhook';

/** Everything the Telegram channel can be told; only `token` and `log` are needed. */
export interface TelegramOptions {
  /** The bot token from @BotFather. */
  token: string;
  /** TELEGRAM_API_ROOT: Telegram's own server by default, or a self-hosted Bot API server. */
  apiRoot?: string;
  log: Logger;
  /** Largest download: 20 MB on Telegram's server, unlimited (the core's MAX_FILE_BYTES applies) on a self-hosted one. */
  maxDownloadBytes?: number;
  /** A self-hosted server's `--dir`, to read the absolute file paths it returns in `--local` mode. */
  localFilesDir?: string;
  /** Webhook mode (behind a TLS proxy); long polling when absent. */
  webhook?: WebhookOptions;
  polling?: Partial<PollingOptions>;
  /** How long an album waits for its next part (ms). Default 1000. */
  mediaGroupWindowMs?: number;
  retry?: Partial<RetryPolicy>;
  /** PLATFORM_CALL_TIMEOUT_SECONDS: how long one Bot API call or file download may go unanswered; 30 s when absent. */
  callTimeoutMs?: number;
  /** Back-off while the core cannot record a message; `defaultHandlerRetry` when absent. */
  handlerRetry?: HandlerRetry;
  typing?: Partial<TypingOptions>;
  /** How fast sends may go; `telegramLimits` (under Telegram's flood limits) when absent. */
  sendLimits?: SendLimits;
  /** Telegram Stars payments (`createTelegramStars`): pre-checkouts and successful payments go there. */
  stars?: StarsUpdates;
}
