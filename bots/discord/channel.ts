import { once } from 'node:events';
import {
  Client,
  Events,
  GatewayIntentBits,
  InteractionResponseType,
  InteractionType,
  MessageFlags,
  MessageReferenceType,
  Options,
  Partials,
  PermissionFlagsBits,
  Routes,
  type Attachment,
  type Interaction,
  type Message,
} from 'discord.js';
import type { Logger } from '../../src/log';
import { text } from '../../src/messages';
import type { Channel, IncomingMessage, MessageHandler, Reply, ReplyAddress } from '../../src/ports/channel';
import { defaultHandlerRetry } from '../shared/record';
import { commandOf, SLASH_COMMANDS } from './commands';
import { defaultDownloadPolicy, openAttachment } from './download';
import { describeError } from './errors';
import { Inbound, type DcCommandInteraction } from './inbound';
import type { DcMessage } from './message';
import type { DiscordOptions } from './options';
import { DISCORD_TEXT_LIMIT, defaultTypingOptions, ReplyPresenter } from './replies';

/** A 429 asking to wait longer than this goes back to the core as a temporary failure instead of blocking. */
const LONGEST_RATE_LIMIT_WAIT_MS = 60_000;

/** A Discord bot as a `Channel`: DMs and mentions with recordings in, replies presented as Discord messages. */
export class DiscordChannel implements Channel {
  readonly name = 'discord' as const;
  readonly textLimit = DISCORD_TEXT_LIMIT;
  private readonly client: Client;
  private readonly presenter: ReplyPresenter;
  private readonly log: Logger;
  private inbound?: Inbound;

  constructor(private readonly options: DiscordOptions) {
    this.log = options.log;
    this.client = new Client({
      intents: [
        GatewayIntentBits.Guilds,
        GatewayIntentBits.GuildMessages,
        GatewayIntentBits.DirectMessages,
        GatewayIntentBits.MessageContent,
      ],
      // DM channels are not announced by the gateway; without this, discord.js drops DMs it has not cached.
      partials: [Partials.Channel],
      rest: {
        ...(options.apiRoot ? { api: options.apiRoot.replace(/\/+$/, '') } : {}),
        retries: options.restRetries ?? 3,
        // Every request is abandoned after this: a send that never answers must not hold the replies behind it.
        timeout: options.callTimeoutMs ?? 30_000,
        rejectOnRateLimit: (limit) => limit.retryAfter > LONGEST_RATE_LIMIT_WAIT_MS,
      },
      // Messages are handled as they arrive and never looked up again: caching them only costs memory.
      makeCache: Options.cacheWithLimits({ ...Options.DefaultMakeCacheSettings, MessageManager: 0 }),
    });
    // Replies go over REST and may be sent before (or without) a gateway connection, after a restart.
    this.client.rest.setToken(options.token);
    this.presenter = new ReplyPresenter(this.client.rest, this.log, { ...defaultTypingOptions, ...options.typing });
  }

  /** Connects to the gateway, registers the slash commands and starts taking messages. */
  async start(onMessage: MessageHandler): Promise<void> {
    const { client, log } = this;
    // A start that failed is tried again by the service: no listener may be left twice.
    for (const event of [
      Events.Error,
      Events.Warn,
      Events.ShardDisconnect,
      Events.ShardResume,
      Events.MessageCreate,
      Events.InteractionCreate,
    ] as const) {
      client.removeAllListeners(event);
    }
    client.on(Events.Error, (error) => log.error({ reason: error.message }, 'discord client error'));
    client.on(Events.Warn, (warning) => log.warn({ warning }, 'discord client warning'));
    client.on(Events.ShardDisconnect, (event, shard) => log.warn({ shard, code: event.code }, 'discord gateway disconnected'));
    client.on(Events.ShardResume, (shard, replayed) => log.info({ shard, replayed }, 'discord gateway resumed'));

    const inbound = new Inbound({
      onMessage,
      botId: () => client.user!.id,
      openAttachment: (attachment) => openAttachment(attachment, { ...defaultDownloadPolicy, ...this.options.download }),
      defer: (interaction, ephemeral) => this.defer(interaction, ephemeral),
      giveUp: (message) => this.giveUp(message),
      handlerRetry: this.options.handlerRetry ?? defaultHandlerRetry,
      log,
    });
    this.inbound = inbound;
    // Listening before login: discord.js replays events queued during start-up right after "ready".
    client.on(Events.MessageCreate, (message) => void inbound.handleMessage(plainMessage(message, client.user!.id)));
    client.on(Events.InteractionCreate, (interaction) => {
      const command = plainCommand(interaction);
      if (command) void inbound.handleInteraction(command);
    });

    const signal = AbortSignal.timeout(this.options.readyTimeoutMs ?? 60_000);
    // Settled either way, so a failed login below leaves no rejection behind.
    const ready = once(client, Events.ClientReady, { signal }).then(
      () => true,
      () => false,
    );
    // login rejects on a bad token, disallowed intents or an unreachable gateway, which ends the start with that error.
    try {
      await client.login(this.options.token);
      if (!(await ready)) throw new Error('Discord gateway did not become ready in time');
    } catch (error) {
      // Leave nothing connecting behind the failed try, and keep REST replies working (destroy drops the token).
      await client.destroy().catch(() => undefined);
      client.rest.setToken(this.options.token);
      throw error;
    }
    const me = client.user!;
    const applicationId = client.application?.id ?? me.id;

    await client.rest.put(Routes.applicationCommands(applicationId), { body: SLASH_COMMANDS }).catch((error: unknown) => {
      log.warn({ ...describeError(error) }, 'discord slash command registration failed; the command list may be stale');
    });
    log.info({ bot: me.username, botId: me.id }, 'discord channel started');
  }

  /** Closes the gateway connection and waits for the messages in work to be recorded. */
  async stop(): Promise<void> {
    const drained = this.inbound?.drain() ?? Promise.resolve();
    await this.client.destroy();
    await drained;
    this.presenter.close();
  }

  /** Sends one reply; throws `DeliveryError` (permanent when the user closed their DMs or the channel is gone). */
  send(to: ReplyAddress, reply: Reply): Promise<void> {
    return this.presenter.send(to, reply);
  }

  private async defer(interaction: DcCommandInteraction, ephemeral: boolean): Promise<void> {
    if (ephemeral) this.presenter.answerPrivately(interaction.id, interaction.user.id);
    await this.client.rest.post(Routes.interactionCallback(interaction.id, interaction.token), {
      body: { type: InteractionResponseType.DeferredChannelMessageWithSource, data: ephemeral ? { flags: MessageFlags.Ephemeral } : {} },
      auth: false,
    });
    this.presenter.openInteraction(interaction.id, interaction.applicationId, interaction.token, ephemeral);
  }

  private async giveUp(message: IncomingMessage): Promise<void> {
    await this.presenter.send(message.replyTo, { key: `busy:${message.id}`, kind: 'notice', text: text.busy() });
  }
}

/**
 * The plain fields of a discord.js message that the channel reads. A forward carries its files in its snapshot,
 * not as its own attachments; the bot's managed role, which Discord offers beside the bot in the @ list, counts
 * as mentioning the bot.
 */
function plainMessage(message: Message, botId: string): DcMessage {
  const forwarded: Attachment[] =
    message.reference?.type === MessageReferenceType.Forward
      ? [...message.messageSnapshots.values()].flatMap((snapshot) => [...(snapshot.attachments?.values() ?? [])])
      : [];
  const botRole = message.mentions.roles.find((role) => role.tags?.botId === botId);
  return {
    id: message.id,
    channelId: message.channelId,
    guildId: message.guildId,
    author: { id: message.author.id, bot: message.author.bot, username: message.author.username, globalName: message.author.globalName },
    webhookId: message.webhookId,
    system: message.system,
    // The role's mention reads as the bot's own, so "@Bot /help" through the role is still "/help".
    content: botRole ? message.content.replaceAll(`<@&${botRole.id}>`, `<@${botId}>`) : message.content,
    attachments: [...message.attachments.values(), ...forwarded].map((a) => ({
      id: a.id,
      name: a.name,
      size: a.size,
      url: a.url,
      contentType: a.contentType,
    })),
    mentions: [...message.mentions.users.keys(), ...(botRole ? [botId] : [])],
    canReply: mayReplyIn(message),
  };
}

/**
 * Whether the bot may answer in the message's channel: send there (in a thread, send in threads), attach the
 * transcript's files and reply to the message. True in DMs, and when the bot's own membership is not known yet.
 */
function mayReplyIn(message: Message): boolean {
  if (!message.inGuild()) return true;
  const me = message.guild.members.me;
  const allowed = me ? message.channel.permissionsFor(me) : null;
  if (!allowed) return true;
  const send = message.channel.isThread() ? PermissionFlagsBits.SendMessagesInThreads : PermissionFlagsBits.SendMessages;
  return allowed.has([send, PermissionFlagsBits.AttachFiles, PermissionFlagsBits.ReadMessageHistory]);
}

/** A slash command interaction's plain fields, or undefined for every other kind of interaction. */
function plainCommand(interaction: Interaction): DcCommandInteraction | undefined {
  if (interaction.type !== InteractionType.ApplicationCommand || !interaction.isChatInputCommand()) return undefined;
  return {
    id: interaction.id,
    token: interaction.token,
    applicationId: interaction.applicationId,
    channelId: interaction.channelId,
    guildId: interaction.guildId,
    user: { id: interaction.user.id, username: interaction.user.username, globalName: interaction.user.globalName },
    locale: interaction.locale,
    command: commandOf(interaction.commandName, interaction.options.data),
  };
}
