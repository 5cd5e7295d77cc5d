import { ButtonStyle, ComponentType, MessageFlags, Routes, type REST } from 'discord.js';
import type { Logger } from '../../src/log';
import type { OutgoingFile, Reply, ReplyAddress } from '../../src/ports/channel';
import { describeError, hasCode, toDeliveryError } from './errors';
import { deliverReply } from '../shared/deliver';
import { RecentMap } from '../shared/recent';
import { SentParts } from '../shared/sent-parts';
import { isStatusReply, StatusMessages } from '../shared/status';
import { fitText, splitText } from '../shared/text';
import type { TypingOptions } from '../shared/typing';

/** Discord's limit on one message's text. */
export const DISCORD_TEXT_LIMIT = 2000;
/** Discord takes at most 10 attachments per message. */
const FILES_PER_MESSAGE = 10;
/** Kept under the 10 MiB a bot may upload per message to a server without boosts. */
const BYTES_PER_MESSAGE = 8 * 1024 * 1024;
/** Interaction tokens live 15 minutes; after that the answer goes to the channel instead. */
const INTERACTION_TTL_MS = 14 * 60_000;

type ActionRow = {
  type: ComponentType.ActionRow;
  components: { type: ComponentType.Button; style: ButtonStyle.Link; label: string; url: string }[];
};

interface StatusMessage {
  channelId: string;
  messageId: string;
}

/** A slash command Discord is showing as "thinking…" until its answer edits the placeholder. */
interface OpenInteraction {
  applicationId: string;
  token: string;
  openedAt: number;
  ephemeral: boolean;
  /** The placeholder has been replaced; more parts go as follow-ups. */
  answered: boolean;
}

/** Discord shows "typing…" for about 10 s, so it is sent again every 8 s. */
export const defaultTypingOptions: TypingOptions = { everyMs: 8_000, maxMs: 20 * 60_000 };

/** One message to post: text, an optional link button and files. */
interface Part {
  text: string;
  row?: ActionRow;
  files: OutgoingFile[];
}

/**
 * Presents the core's replies in Discord: every message replies to the user's message, a pay link is a
 * link button, an order's progress edits one status message (with "typing…" while it is transcribed),
 * and a transcript is its text with its files attached. A slash command's answer replaces Discord's
 * "thinking…" placeholder. Each message sent is remembered by the reply's key, so the core retrying a
 * half-sent transcript does not repeat the parts that went out.
 */
export class ReplyPresenter {
  private readonly parts = new SentParts();
  private readonly status: StatusMessages<StatusMessage>;
  private interactions = new RecentMap<string, OpenInteraction>(10_000);
  /** Server slash commands by id, with who asked: their answers are for that user alone, never for the channel. */
  private privateAnswers = new RecentMap<string, string>(10_000);

  constructor(
    private readonly rest: REST,
    private readonly log: Logger,
    typingOptions: TypingOptions = defaultTypingOptions,
  ) {
    this.status = new StatusMessages(typingOptions, this.parts);
  }

  /**
   * Marks a server slash command's answer as the asker's alone: if its interaction cannot carry the answer (never
   * deferred, or its token gone), it goes to the user's DMs, not to the channel where everyone reads it.
   */
  answerPrivately(interactionId: string, userId: string): void {
    this.privateAnswers.set(interactionId, userId);
  }

  /** Remembers a deferred slash command, so the core's answer to it (addressed to its id) edits the placeholder. */
  openInteraction(interactionId: string, applicationId: string, token: string, ephemeral: boolean): void {
    this.interactions.set(interactionId, { applicationId, token, ephemeral, openedAt: Date.now(), answered: false });
  }

  /** Sends one reply; throws `DeliveryError` (permanent when the user closed their DMs or the channel is gone). */
  async send(to: ReplyAddress, reply: Reply): Promise<void> {
    await deliverReply(reply, () => this.present(to, reply), {
      toDeliveryError,
      status: this.status,
      log: this.log,
      platform: 'discord',
      describe: describeError,
    });
  }

  /** Ends every typing loop (the channel is stopping). */
  close(): void {
    this.status.close();
  }

  private async present(to: ReplyAddress, reply: Reply): Promise<void> {
    const row = reply.action ? linkRow(reply.action.label, reply.action.url) : undefined;
    if (isStatusReply(reply)) {
      const part = { text: fitText(reply.text, DISCORD_TEXT_LIMIT), row, files: [] };
      return this.status.show(reply, {
        edit: (status) => this.edit(status, reply.text, row),
        post: async () => ({ channelId: to.chatId, messageId: await this.postToChannel(to, part) }),
        typing: () => this.rest.post(Routes.channelTyping(to.chatId)),
      });
    }

    this.status.settle(reply.orderId);
    const parts = layout(reply.text, row, reply.files ?? []);
    for (const [i, part] of parts.entries()) {
      await this.parts.once(`${reply.key}#part${i}`, () => this.post(to, part));
    }
  }

  /** Posts one part where it belongs: into the slash command's answer while that is open, else into the channel. */
  private async post(to: ReplyAddress, part: Part): Promise<string | undefined> {
    const interaction = this.interactions.get(to.messageId);
    if (interaction && Date.now() - interaction.openedAt < INTERACTION_TTL_MS) {
      try {
        return await this.postToInteraction(interaction, part);
      } catch (error) {
        // The token is gone (expired, or Discord lost the interaction): the channel still reaches the user.
        if (!hasCode(error, 10015, 50027, 10062)) throw error;
        this.interactions.delete(to.messageId);
        this.log.info({ ...describeError(error) }, 'discord interaction closed; answering in the channel or DMs');
      }
    }
    const asker = this.privateAnswers.get(to.messageId);
    if (asker) {
      // A failure here (the user's DMs closed) is permanent: the answer is not for the channel.
      const dm = (await this.rest.post(Routes.userChannels(), { body: { recipient_id: asker } })) as { id: string };
      return this.postToChannel({ ...to, chatId: dm.id }, part);
    }
    return this.postToChannel(to, part);
  }

  private async postToInteraction(interaction: OpenInteraction, part: Part): Promise<string | undefined> {
    const files = uploads(part.files);
    if (!interaction.answered) {
      // The placeholder was deferred ephemeral or not; an edit cannot change that, so it sends no such flag.
      const route = Routes.webhookMessage(interaction.applicationId, interaction.token, '@original');
      const sent = (await this.rest.patch(route, { body: content(part), files, auth: false })) as { id: string };
      interaction.answered = true;
      return sent.id;
    }
    const flags = MessageFlags.SuppressEmbeds | (interaction.ephemeral ? MessageFlags.Ephemeral : 0);
    const body = { ...content(part), flags };
    const sent = (await this.rest.post(Routes.webhook(interaction.applicationId, interaction.token), { body, files, auth: false })) as {
      id: string;
    };
    return sent.id;
  }

  private async postToChannel(to: ReplyAddress, part: Part): Promise<string> {
    const body = {
      ...content(part),
      // Replying keeps the answer next to the recording; a deleted original must not stop the answer.
      message_reference: { message_id: to.messageId, fail_if_not_exists: false },
    };
    try {
      const sent = (await this.rest.post(Routes.channelMessages(to.chatId), { body, files: uploads(part.files) })) as { id: string };
      return sent.id;
    } catch (error) {
      // Discord refuses link buttons to some URLs (plain http, odd hosts); the link still has to reach the user.
      if (!part.row || !hasCode(error, 50035)) throw error;
      const button = part.row.components[0];
      this.log.warn('discord refused the pay button; sending the link in the text');
      const link = `\n\n${button.label}: ${button.url}`;
      const text = `${fitText(part.text, DISCORD_TEXT_LIMIT - link.length)}${link}`;
      const sent = (await this.rest.post(Routes.channelMessages(to.chatId), {
        body: { ...content({ ...part, text, row: undefined }), message_reference: body.message_reference },
        files: uploads(part.files),
      })) as { id: string };
      return sent.id;
    }
  }

  /** Edits the status message; false when it is gone and a new one must be posted. */
  private async edit(status: StatusMessage, text: string, row?: ActionRow): Promise<boolean> {
    try {
      await this.rest.patch(Routes.channelMessage(status.channelId, status.messageId), {
        // No row removes the pay button once it has served.
        body: { content: fitText(text, DISCORD_TEXT_LIMIT), components: row ? [row] : [] },
      });
      return true;
    } catch (error) {
      if (hasCode(error, 10008)) return false;
      throw error;
    }
  }
}

function linkRow(label: string, url: string): ActionRow {
  // Discord caps button labels at 80 characters.
  return {
    type: ComponentType.ActionRow,
    components: [{ type: ComponentType.Button, style: ButtonStyle.Link, label: label.slice(0, 80), url }],
  };
}

/** The body every message shares. Transcripts are user speech: "@everyone" in one must not ping anyone. */
function content(part: Part) {
  return {
    content: part.text,
    components: part.row ? [part.row] : [],
    allowed_mentions: { parse: [], replied_user: true },
    flags: MessageFlags.SuppressEmbeds,
    ...(part.files.length ? { attachments: part.files.map((file, id) => ({ id, filename: file.name })) } : {}),
  };
}

function uploads(files: OutgoingFile[]) {
  return files.map((file) => ({ name: file.name, data: file.content, contentType: file.contentType }));
}

/**
 * Lays a reply out as messages: the text cut at Discord's limit, the button under the last piece, and
 * the files attached to it (then in further messages, 10 and about 8 MB per message).
 */
export function layout(text: string, row: ActionRow | undefined, files: OutgoingFile[]): Part[] {
  const parts: Part[] = splitText(text, DISCORD_TEXT_LIMIT).map((piece) => ({ text: piece, files: [] }));
  if (parts.length === 0) parts.push({ text: '', files: [] });
  parts[parts.length - 1].row = row;
  let current = parts[parts.length - 1];
  let bytes = 0;
  for (const file of files) {
    if (current.files.length >= FILES_PER_MESSAGE || (current.files.length > 0 && bytes + file.content.length > BYTES_PER_MESSAGE)) {
      current = { text: '', files: [] };
      parts.push(current);
      bytes = 0;
    }
    current.files.push(file);
    bytes += file.content.length;
  }
  // An empty message without files is refused by Discord; there is nothing to send then.
  return parts.filter((part) => part.text !== '' || part.files.length > 0 || part.row);
}
