import type { Logger } from '../../src/log';
import type { ChatCommand, IncomingMessage, MessageHandler } from '../../src/ports/channel';
import { describeError } from './errors';
import { messageId, toIncoming, type AttachmentOpener, type DcMessage } from './message';
import { recordWithRetry, type HandlerRetry } from '../shared/record';
import { RecentSet } from '../shared/recent';

/** A slash command as the gateway delivered it, before it is answered. */
export interface DcCommandInteraction {
  id: string;
  token: string;
  applicationId: string;
  channelId: string;
  guildId?: string | null;
  user: { id: string; username: string; globalName?: string | null };
  /** The user's client language, e.g. "en-US". */
  locale?: string;
  command: ChatCommand;
}

/** What the inbound side needs from the channel. */
export interface InboundOptions {
  onMessage: MessageHandler;
  openAttachment: AttachmentOpener;
  /** The bot's own user id, to spot mentions of it and its own messages; known once the gateway is ready. */
  botId(): string;
  /** Tells Discord the answer is coming (it shows "thinking…"); must happen within 3 s of the interaction. */
  defer(interaction: DcCommandInteraction, ephemeral: boolean): Promise<void>;
  /** Tells the user their message could not be taken, once retries are spent. */
  giveUp(message: IncomingMessage): Promise<void>;
  /** Back-off while the core reports a transient failure. */
  handlerRetry: HandlerRetry;
  log: Logger;
}

/**
 * Turns gateway events into the core's messages: drops events seen before (a resumed gateway connection
 * replays them), ignores what is not for this bot, and hands each message to the core until it is
 * recorded. The gateway never redelivers, so a transient failure is retried here with backoff.
 */
export class Inbound {
  private seen = new RecentSet<string>(10_000);
  private inFlight = new Set<Promise<void>>();
  private stopping = new AbortController();

  constructor(private readonly options: InboundOptions) {}

  /** Handles one MESSAGE_CREATE. */
  handleMessage(message: DcMessage): Promise<void> {
    if (message.guildId && message.canReply === false && message.mentions.includes(this.options.botId())) {
      // Taking it would spend the sender's seconds on a transcript that can never be posted here.
      this.options.log.warn(
        { channelId: message.channelId, messageId: message.id },
        'discord: addressed in a channel where I may not answer; ignored',
      );
      return Promise.resolve();
    }
    const incoming = toIncoming(message, this.options.botId(), this.options.openAttachment);
    if (!incoming) return Promise.resolve();
    return this.track(incoming.id, async () => this.dispatch(incoming));
  }

  /** Handles one slash command: defers the answer at once, then records the command. */
  handleInteraction(interaction: DcCommandInteraction): Promise<void> {
    return this.track(messageId(interaction.id), async () => {
      // In a server the answer (a balance, a language) concerns only the one who asked.
      const ephemeral = Boolean(interaction.guildId);
      try {
        await this.options.defer(interaction, ephemeral);
      } catch (error) {
        // Too late or refused: the core's answer then goes as a plain message (to the asker's DMs when it was private).
        this.options.log.warn({ interactionId: interaction.id, ...describeError(error) }, 'discord interaction could not be deferred');
      }
      await this.dispatch({
        channel: 'discord',
        id: messageId(interaction.id),
        sender: {
          id: interaction.user.id,
          name: interaction.user.globalName || interaction.user.username,
          ...(interaction.locale ? { languageCode: interaction.locale.split('-')[0] } : {}),
        },
        replyTo: { channel: 'discord', chatId: interaction.channelId, messageId: interaction.id },
        command: interaction.command,
        attachments: [],
      });
    });
  }

  /** Stops taking events: retries end and in-flight work is awaited. */
  async drain(): Promise<void> {
    this.stopping.abort();
    await Promise.allSettled([...this.inFlight]);
  }

  private track(id: string, work: () => Promise<void>): Promise<void> {
    if (this.seen.has(id) || this.stopping.signal.aborted) return Promise.resolve();
    this.seen.add(id);
    const running = work().catch((error: unknown) => {
      this.options.log.error({ messageId: id, ...describeError(error) }, 'discord event handling failed');
    });
    this.inFlight.add(running);
    void running.finally(() => this.inFlight.delete(running));
    return running;
  }

  private async dispatch(message: IncomingMessage): Promise<void> {
    const outcome = await recordWithRetry(this.options.onMessage, message, {
      retry: this.options.handlerRetry,
      signal: this.stopping.signal,
      log: this.options.log,
      platform: 'discord',
    });
    if (outcome !== 'dropped') return;
    // The core's reply is keyed by the message, so it is sent once; when the core cannot take even that, the channel says it is busy.
    const told = this.options.onMessage.gaveUp
      ? await this.options.onMessage.gaveUp(message).then(
          () => true,
          () => false,
        )
      : false;
    if (!told) await this.options.giveUp(message).catch(() => undefined);
  }
}
