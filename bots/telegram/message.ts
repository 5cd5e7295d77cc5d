import type { Readable } from 'node:stream';
import type { ChatCommand, IncomingAttachment, IncomingMessage } from '../../src/ports/channel';
import { uniqueName } from '../shared/text';

/** A Telegram file reference, as voice, audio, video, video_note and document carry it. */
interface TgFile {
  file_id: string;
  file_size?: number;
  file_name?: string;
  mime_type?: string;
}

/** The Bot API's SuccessfulPayment (a Telegram Stars charge), as far as it is read. */
export interface TgSuccessfulPayment {
  currency: string;
  total_amount: number;
  invoice_payload: string;
  telegram_payment_charge_id: string;
}

/** The fields of a Bot API Message this channel reads. */
export interface TgMessage {
  message_id: number;
  media_group_id?: string;
  chat: { id: number; type: string };
  from?: { id: number; is_bot: boolean; first_name?: string; last_name?: string; username?: string; language_code?: string };
  text?: string;
  caption?: string;
  voice?: TgFile;
  audio?: TgFile;
  video?: TgFile;
  video_note?: TgFile;
  document?: TgFile;
  successful_payment?: TgSuccessfulPayment;
  /** The message this one answers (a group member replying to the bot). */
  reply_to_message?: { from?: { is_bot: boolean; username?: string } };
  /** A Stars payment was refunded (Bot API 7.10); a service message, never a request. */
  refunded_payment?: TgSuccessfulPayment;
}

/** A media file of a message, before it is opened. */
export interface MediaRef {
  fileId: string;
  name: string;
  mimeType?: string;
  size?: number;
}

/** Opens a file by id; the channel binds the Bot API and limits to it. */
export type FileOpener = (fileId: string, declaredSize?: number) => Promise<Readable>;

const EXTENSIONS: Record<string, string> = {
  'audio/ogg': 'ogg',
  'audio/opus': 'opus',
  'audio/mpeg': 'mp3',
  'audio/mp4': 'm4a',
  'audio/x-m4a': 'm4a',
  'audio/aac': 'aac',
  'audio/wav': 'wav',
  'audio/x-wav': 'wav',
  'audio/flac': 'flac',
  'audio/webm': 'webm',
  'video/mp4': 'mp4',
  'video/quicktime': 'mov',
  'video/webm': 'webm',
  'video/x-matroska': 'mkv',
};

function named(file: TgFile, base: string, fallbackExt: string): MediaRef {
  const ext = EXTENSIONS[(file.mime_type ?? '').toLowerCase()] ?? fallbackExt;
  return { fileId: file.file_id, name: file.file_name || `${base}.${ext}`, mimeType: file.mime_type, size: file.file_size };
}

/**
 * The file a message carries: audio, video, or any document (a document that is not a recording is still named and
 * refused by intake, so the sender learns why). Photos and stickers are not files sent to be transcribed.
 */
export function mediaOf(message: TgMessage): MediaRef | undefined {
  if (message.voice) return named({ mime_type: 'audio/ogg', ...message.voice }, 'voice', 'ogg');
  if (message.audio) return named(message.audio, 'audio', 'mp3');
  if (message.video) return named({ mime_type: 'video/mp4', ...message.video }, 'video', 'mp4');
  if (message.video_note) return named({ mime_type: 'video/mp4', ...message.video_note }, 'video_note', 'mp4');
  if (message.document) return named(message.document, 'document', 'bin');
  return undefined;
}

const COMMAND = /^\/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]+))?(?:\s+([\s\S]*))?$/;

/**
 * Parses `/name@bot args`. Returns undefined for plain text and `null` for a command addressed to a
 * different bot (group chats), which this bot must leave alone.
 */
export function parseCommand(text: string | undefined, botUsername: string): ChatCommand | null | undefined {
  const match = COMMAND.exec((text ?? '').trim());
  if (!match) return undefined;
  if (match[2] && match[2].toLowerCase() !== botUsername.toLowerCase()) return null;
  return { name: match[1].toLowerCase(), args: (match[3] ?? '').trim() };
}

/** The id the core dedupes on: one per chat message (an album goes by its first message). */
export function messageId(chatId: number, messageIdValue: number): string {
  return `tg:${chatId}:${messageIdValue}`;
}

/**
 * Turns one message, or every message of an album, into the core's message. Returns undefined when the
 * message is not for this bot (no sender, another bot, a command for another bot).
 */
export function toIncoming(parts: TgMessage[], botUsername: string, openFile: FileOpener): IncomingMessage | undefined {
  const sorted = [...parts].sort((a, b) => a.message_id - b.message_id);
  const first = sorted[0];
  if (!first?.from || first.from.is_bot) return undefined;
  const text = sorted.map((m) => m.text ?? m.caption).find((t) => t !== undefined && t.trim() !== '');
  const command = parseCommand(text, botUsername);
  if (command === null) return undefined;

  const attachments: IncomingAttachment[] = [];
  const names = new Set<string>();
  for (const part of sorted) {
    const media = mediaOf(part);
    if (!media) continue;
    const name = uniqueName(media.name, names);
    attachments.push({ name, mimeType: media.mimeType, size: media.size, open: () => openFile(media.fileId, media.size) });
  }
  const { from, chat } = first;
  // In groups the bot may see what members send each other: only commands, and recordings addressed to it.
  if (chat.type !== 'private' && !command && (attachments.length === 0 || !addressedToBot(sorted, botUsername))) return undefined;
  const senderName = [from.first_name, from.last_name].filter(Boolean).join(' ') || from.username;
  return {
    channel: 'telegram',
    id: messageId(chat.id, first.message_id),
    sender: { id: String(from.id), name: senderName, languageCode: from.language_code },
    replyTo: { channel: 'telegram', chatId: String(chat.id), messageId: String(first.message_id) },
    // A recording always wins: a command in its caption is applied first as a choice (`/language de`), never
    // answered instead of it.
    ...(command && attachments.length === 0 ? { command } : {}),
    ...(command && attachments.length > 0 ? { choices: [command] } : {}),
    attachments,
    ...(text !== undefined ? { text } : {}),
  };
}

/** Whether a group message (or any part of an album) replies to the bot or mentions `@botUsername`. */
function addressedToBot(parts: TgMessage[], botUsername: string): boolean {
  const name = botUsername.toLowerCase();
  const mention = new RegExp(`(^|[^\\w@])@${name.replace(/[^\w]/g, '')}(?!\\w)`, 'i');
  return parts.some((part) => {
    const repliedTo = part.reply_to_message?.from;
    if (repliedTo?.is_bot && repliedTo.username?.toLowerCase() === name) return true;
    return mention.test(part.caption ?? part.text ?? '');
  });
}
