import type { Server } from 'node:http';
import type { Logger } from '../../src/log';
import type { Channel, MessageHandler, Reply, ReplyAddress } from '../../src/ports/channel';
import { defaultHandlerRetry } from '../shared/record';
import { SendPacer } from './pacer';
import { BotApi, defaultRetryPolicy } from './api';
import { openTelegramFile, TELEGRAM_DOWNLOAD_LIMIT, type FileSource } from './download';
import { ALLOWED_UPDATES, Inbound } from './inbound';
import type { TelegramOptions } from './options';
import { defaultPollingOptions, Poller } from './polling';
import { defaultTypingOptions, ReplyPresenter, TELEGRAM_TEXT_LIMIT } from './replies';
import { listenForWebhooks } from './webhook';

const TELEGRAM_API_ROOT = 'https://api.telegram.org';

/** The commands shown in Telegram's menu; the core answers them. */
const COMMANDS = [
  { command: 'start', description: 'What this bot does and your free minutes' },
  { command: 'help', description: 'How to send audio and what it costs' },
  { command: 'balance', description: 'Seconds of transcription left' },
  { command: 'language', description: 'Set the spoken language: /language en or /language auto' },
  { command: 'translate', description: 'Translate into English: /translate on or /translate off' },
  { command: 'format', description: 'Choose the files you get: /format srt vtt (txt, srt, vtt, json)' },
];

/** A Telegram bot as a `Channel`: updates in, replies presented as Telegram messages. */
export class TelegramChannel implements Channel {
  readonly name = 'telegram' as const;
  readonly textLimit = TELEGRAM_TEXT_LIMIT;
  private readonly api: BotApi;
  private readonly presenter: ReplyPresenter;
  private readonly files: FileSource;
  private inbound?: Inbound;
  private poller?: Poller;
  private webhookServer?: Server;

  constructor(private readonly options: TelegramOptions) {
    const apiRoot = options.apiRoot ?? TELEGRAM_API_ROOT;
    const log = options.log.child({ channel: 'telegram' });
    this.api = new BotApi(
      options.token,
      apiRoot,
      log,
      { ...defaultRetryPolicy, ...options.retry },
      new SendPacer(options.sendLimits),
      options.callTimeoutMs,
    );
    this.presenter = new ReplyPresenter(this.api, log, { ...defaultTypingOptions, ...options.typing });
    const ownServer = new URL(apiRoot).hostname === new URL(TELEGRAM_API_ROOT).hostname;
    this.files = {
      api: this.api,
      token: options.token,
      maxBytes: options.maxDownloadBytes ?? (ownServer ? TELEGRAM_DOWNLOAD_LIMIT : Number.POSITIVE_INFINITY),
      localFilesDir: options.localFilesDir,
      log,
    };
  }

  private get log(): Logger {
    return this.files.log;
  }

  /** Checks the token, registers the command menu and starts taking updates. */
  async start(onMessage: MessageHandler): Promise<void> {
    const me = await this.api.call<{ username: string; id: number }>('getMe', {});
    await this.api.call('setMyCommands', { commands: COMMANDS }).catch((error: unknown) => {
      this.log.warn({ err: error }, 'telegram setMyCommands failed; the command menu may be stale');
    });
    this.inbound = new Inbound({
      onMessage,
      botUsername: me.username,
      openFile: (fileId, size) => openTelegramFile(this.files, fileId, size),
      mediaGroupWindowMs: this.options.mediaGroupWindowMs ?? 1000,
      handlerRetry: this.options.handlerRetry ?? defaultHandlerRetry,
      stars: this.options.stars,
      log: this.log,
    });
    const inbound = this.inbound;
    if (this.options.webhook) {
      this.webhookServer = await listenForWebhooks(this.options.webhook, (u) => inbound.handleUpdate(u), this.log);
      await this.api.call('setWebhook', {
        url: this.options.webhook.url,
        secret_token: this.options.webhook.secretToken,
        allowed_updates: ALLOWED_UPDATES,
      });
      this.log.info({ bot: me.username, mode: 'webhook' }, 'telegram channel started');
      return;
    }
    // getUpdates answers 409 while a webhook is set, so polling clears one left by an earlier set-up.
    await this.api.call('deleteWebhook', { drop_pending_updates: false });
    this.poller = new Poller(this.api, (u) => inbound.handleUpdate(u), { ...defaultPollingOptions, ...this.options.polling }, this.log);
    this.poller.start();
    this.log.info({ bot: me.username, mode: 'polling' }, 'telegram channel started');
  }

  /** Stops taking updates and waits for the messages in work to be recorded. */
  async stop(): Promise<void> {
    const drained = this.inbound?.drain() ?? Promise.resolve();
    if (this.poller) await this.poller.stop(drained);
    if (this.webhookServer) {
      const server = this.webhookServer;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await drained;
    this.presenter.close();
  }

  /** Sends one reply; throws `DeliveryError` (permanent when the user blocked the bot or the chat is gone). */
  send(to: ReplyAddress, reply: Reply): Promise<void> {
    return this.presenter.send(to, reply);
  }
}
