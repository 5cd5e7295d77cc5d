import type { Readable } from 'node:stream';
import type { ChatCommand, IncomingAttachment, IncomingMessage } from '../../src/ports/channel';
import { uniqueName } from '../shared/text';

/** A file attached to a Discord message, as the gateway describes it. */
export interface DcAttachment {
  id: string;
  name: string;
  size: number;
  url: string;
  contentType?: string | null;
}

/** The fields of a Discord message this channel reads, independent of discord.js's classes. */
export interface DcMessage {
  id: string;
  channelId: string;
  /** Absent in DMs. */
  guildId?: string | null;
  author: { id: string; bot: boolean; username: string; globalName?: string | null };
  /** Set for messages posted by webhooks, which have no person behind them. */
  webhookId?: string | null;
  /** System messages (joins, pins, boosts). */
  system: boolean;
  content: string;
  attachments: DcAttachment[];
  /** Ids of the users the message mentions. */
  mentions: string[];
  /** False in a server channel where the bot may not answer (send, attach its files, reply); unknown counts as true. */
  canReply?: boolean;
}

/** Opens an attachment, bounded by the size Discord declared for it. */
export type AttachmentOpener = (attachment: DcAttachment) => Promise<Readable>;

/** The id the core dedupes on. Message and interaction ids are both snowflakes, unique across Discord. */
export function messageId(id: string): string {
  return `dc:${id}`;
}

const TEXT_COMMAND = /^\/([A-Za-z0-9_]{1,32})(?:\s+([\s\S]*))?$/;

/** A typed `/balance` (the client sends it as text when no slash command was picked). */
export function parseTextCommand(text: string): ChatCommand | undefined {
  const match = TEXT_COMMAND.exec(text.trim());
  return match ? { name: match[1].toLowerCase(), args: (match[2] ?? '').trim() } : undefined;
}

/** Removes mentions of the bot, so "@Bot /help" reads as "/help". */
function withoutMention(content: string, botId: string): string {
  return content
    .replace(new RegExp(`<@!?${botId}>`, 'g'), ' ')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Turns a Discord message into the core's message, or undefined when it is not for this bot: posted by
 * a bot, a webhook or the system, or in a server without mentioning the bot.
 */
export function toIncoming(message: DcMessage, botId: string, open: AttachmentOpener): IncomingMessage | undefined {
  if (message.author.bot || message.webhookId || message.system || message.author.id === botId) return undefined;
  const inGuild = Boolean(message.guildId);
  // In servers the bot sees every message it can read; only those addressed to it are meant for it.
  if (inGuild && !message.mentions.includes(botId)) return undefined;

  const names = new Set<string>();
  // Every file goes on, images and documents too: intake names each one it cannot take, so none vanishes unanswered.
  const attachments: IncomingAttachment[] = message.attachments.map((attachment) => ({
    name: uniqueName(attachment.name || `${attachment.id}.bin`, names),
    mimeType: attachment.contentType ?? undefined,
    size: attachment.size,
    open: () => open(attachment),
  }));
  const text = withoutMention(message.content, botId);
  // A recording always wins over words typed with it; a bare "/cmd" is a command.
  const command = attachments.length === 0 && text ? parseTextCommand(text) : undefined;
  return {
    channel: 'discord',
    id: messageId(message.id),
    sender: { id: message.author.id, name: message.author.globalName || message.author.username },
    replyTo: { channel: 'discord', chatId: message.channelId, messageId: message.id },
    ...(command ? { command } : {}),
    attachments,
    ...(text ? { text } : {}),
  };
}
