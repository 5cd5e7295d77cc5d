import type { Readable } from 'node:stream';

/** The platforms a message can come from. `test` is the in-process channel the test suite drives. */
export type ChannelName = 'telegram' | 'discord' | 'email' | 'test';

/**
 * Where replies to a message go. Stored with the order as JSON, so it is plain data only.
 * `chatId` is the Telegram chat id, the Discord channel id, or the sender's email address.
 * `messageId` is the message to reply to (Telegram message_id, Discord message id, email Message-ID).
 */
export interface ReplyAddress {
  channel: ChannelName;
  chatId: string;
  messageId: string;
  /** Email only: the subject of the message being answered. */
  subject?: string;
  /** Email only: the References chain of the message being answered (oldest first). */
  references?: string[];
}

/** One file attached to a message, opened lazily so nothing is downloaded before intake wants it. */
export interface IncomingAttachment {
  /** The name the user gave it. For display only: never used as a path or a storage key. */
  name: string;
  mimeType?: string;
  /** Size the platform declares, when it does; intake still counts bytes while streaming. */
  size?: number;
  /** Opens the bytes. May throw an `IntakeRefusal` (e.g. the platform will not serve a file that large). */
  open(): Promise<Readable>;
}

/** A chat command such as `/language en`: name without the slash, lower case; args trimmed. */
export interface ChatCommand {
  name: string;
  args: string;
}

/** One platform message, as every adapter hands it to the core. */
export interface IncomingMessage {
  channel: ChannelName;
  /** Platform-unique id of this message; a message seen twice (redelivery, re-fetch) is ignored. */
  id: string;
  sender: { id: string; name?: string; languageCode?: string };
  replyTo: ReplyAddress;
  command?: ChatCommand;
  /** Choices written in the message itself (email's `language: de` lines), applied before its recordings. */
  choices?: ChatCommand[];
  attachments: IncomingAttachment[];
  text?: string;
}

/** A file sent back to the user (transcript formats). */
export interface OutgoingFile {
  name: string;
  contentType: string;
  content: Buffer;
}

/** What a reply is about; adapters may present kinds differently (Telegram edits one status message). */
export type ReplyKind = 'notice' | 'quote' | 'status' | 'transcript' | 'command';

/** One reply from the core. The text is complete and platform-neutral; adapters only present it. */
export interface Reply {
  /** Unique per reply; the same key is never sent on purpose twice, so adapters may use it to dedupe. */
  key: string;
  kind: ReplyKind;
  text: string;
  /** A link the user should act on (pay). Telegram: inline URL button; Discord: link button; email: link. */
  action?: { label: string; url: string };
  files?: OutgoingFile[];
  /** The order this reply is about, when there is one. */
  orderId?: string;
  /** The user's balance after this reply's event, in seconds. Email states it in every reply. */
  balanceSeconds?: number;
  /** Seconds the user owes from a refunded or disputed payment, when any; stated beside the balance. */
  owedSeconds?: number;
  /** A progress update (transcribing...): chat adapters show it by editing the order's status message; mail drops it. */
  transient?: boolean;
  /** The order is being transcribed from this reply on: chats show "typing…" until its final reply. */
  working?: boolean;
}

/** Called by an adapter for every message. Resolves once the message is durably recorded. */
export type MessageHandler = ((message: IncomingMessage) => Promise<void>) & {
  /**
   * Called by an adapter that gave up on a message after its retries (its files could not be fetched):
   * the core tells the sender, once per message id, however often it is called (a retry, a restart).
   */
  gaveUp?: (message: Pick<IncomingMessage, 'channel' | 'id' | 'replyTo'>) => Promise<void>;
};

/** A chat platform or mailbox. Adapters know their platform; nothing else does. */
export interface Channel {
  readonly name: ChannelName;
  /** Longest text the platform shows in one message; longer transcripts go as a file. */
  readonly textLimit: number;
  /** Connects and starts handing messages to `onMessage`. */
  start(onMessage: MessageHandler): Promise<void>;
  /** Stops taking messages; resolves when in-flight handlers are done. */
  stop(): Promise<void>;
  /** Whether the channel's connection is up now, for channels that reconnect on their own (the mailbox). */
  connected?(): boolean;
  /** Sends one reply. Throws `DeliveryError`; `permanent` ones (user blocked the bot) are not retried. */
  send(to: ReplyAddress, reply: Reply): Promise<void>;
}

/** A send that failed. `permanent` means retrying cannot help (blocked, chat gone, address invalid). */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly permanent: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DeliveryError';
  }
}

/**
 * Thrown by `IncomingAttachment.open()` when the platform will not hand the file over
 * (e.g. Telegram's 20 MB download limit). `message` is shown to the user after the file's name, so it
 * is a clause such as "larger than the 20 MB Telegram lets bots download, so I skipped it".
 */
export class AttachmentRefusal extends Error {
  constructor(
    readonly reason: 'too_large' | 'unavailable',
    message: string,
  ) {
    super(message);
    this.name = 'AttachmentRefusal';
  }
}
