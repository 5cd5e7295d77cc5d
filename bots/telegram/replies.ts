import type { Logger } from '../../src/log';
import type { Reply, ReplyAddress } from '../../src/ports/channel';
import { isBadRequest, toDeliveryError, type BotApi } from './api';
import { deliverReply } from '../shared/deliver';
import { SentParts } from '../shared/sent-parts';
import { isStatusReply, StatusMessages } from '../shared/status';
import { splitText } from '../shared/text';
import type { TypingOptions } from '../shared/typing';

/** Telegram's limit on one message's text. */
export const TELEGRAM_TEXT_LIMIT = 4096;

type Keyboard = { inline_keyboard: { text: string; url: string }[][] };

interface StatusMessage {
  chatId: string;
  messageId: number;
}

/** Telegram shows a chat action for about 5 s, so it is sent again every 4.5 s. */
export const defaultTypingOptions: TypingOptions = { everyMs: 4_500, maxMs: 20 * 60_000 };

/**
 * Presents the core's replies in a Telegram chat: every message is a reply to the user's message, a pay
 * link is an inline URL button, an order's progress edits one status message, and a transcript is its text
 * followed by its files as documents. Each piece sent is remembered by the reply's key, so the core
 * retrying a half-sent transcript does not repeat the parts that went out.
 */
export class ReplyPresenter {
  private readonly parts = new SentParts();
  private readonly status: StatusMessages<StatusMessage>;

  constructor(
    private readonly api: BotApi,
    private readonly log: Logger,
    typingOptions: TypingOptions = defaultTypingOptions,
  ) {
    this.status = new StatusMessages(typingOptions, this.parts);
  }

  /** Sends one reply; throws `DeliveryError`. */
  async send(to: ReplyAddress, reply: Reply): Promise<void> {
    await deliverReply(reply, () => this.present(to, reply), { toDeliveryError, status: this.status, log: this.log, platform: 'telegram' });
  }

  /** Ends every chat action loop (the channel is stopping). */
  close(): void {
    this.status.close();
  }

  private async present(to: ReplyAddress, reply: Reply): Promise<void> {
    const keyboard: Keyboard | undefined = reply.action
      ? { inline_keyboard: [[{ text: reply.action.label, url: reply.action.url }]] }
      : undefined;
    if (isStatusReply(reply)) {
      return this.status.show(reply, {
        edit: (status) => this.edit(status, reply.text, keyboard),
        post: async () => ({ chatId: to.chatId, messageId: await this.postText(to, reply.text, keyboard) }),
        typing: () => this.api.once('sendChatAction', { chat_id: to.chatId, action: 'typing' }),
      });
    }

    this.status.settle(reply.orderId);
    const chunks = splitText(reply.text, TELEGRAM_TEXT_LIMIT);
    for (const [i, chunk] of chunks.entries()) {
      // The button goes under the last piece of text, where the user finishes reading.
      await this.parts.once(`${reply.key}#text${i}`, () => this.postText(to, chunk, i === chunks.length - 1 ? keyboard : undefined));
    }
    for (const file of reply.files ?? []) {
      await this.parts.once(`${reply.key}#file:${file.name}`, async () => {
        await this.api.call('sendDocument', {
          chat_id: to.chatId,
          document: { source: file.content, filename: file.name },
          // telegraf 4.16.3 drops reply_parameters from multipart uploads; reply_to_message_id survives.
          reply_to_message_id: Number(to.messageId),
          allow_sending_without_reply: true,
        });
      });
    }
  }

  private async postText(to: ReplyAddress, text: string, keyboard?: Keyboard): Promise<number> {
    const payload = {
      chat_id: to.chatId,
      text,
      reply_parameters: { message_id: Number(to.messageId), allow_sending_without_reply: true },
      link_preview_options: { is_disabled: true },
    };
    try {
      const sent = await this.api.call<{ message_id: number }>('sendMessage', {
        ...payload,
        ...(keyboard ? { reply_markup: keyboard } : {}),
      });
      return sent.message_id;
    } catch (error) {
      // Telegram refuses buttons to some URLs (localhost, plain http on some clients); the link still has to reach the user.
      if (!keyboard || !isBadRequest(error, /button|url/i)) throw error;
      const button = keyboard.inline_keyboard[0][0];
      this.log.warn('telegram refused the pay button; sending the link in the text');
      const sent = await this.api.call<{ message_id: number }>('sendMessage', {
        ...payload,
        text: `${text}\n\n${button.text}: ${button.url}`,
      });
      return sent.message_id;
    }
  }

  /** Edits the status message; false when it is gone and a new one must be posted. */
  private async edit(status: StatusMessage, text: string, keyboard?: Keyboard): Promise<boolean> {
    try {
      await this.api.call('editMessageText', {
        chat_id: status.chatId,
        message_id: status.messageId,
        text: text.slice(0, TELEGRAM_TEXT_LIMIT),
        link_preview_options: { is_disabled: true },
        // An empty keyboard removes the pay button once it has served.
        reply_markup: keyboard ?? { inline_keyboard: [] },
      });
      return true;
    } catch (error) {
      if (isBadRequest(error, /not modified/i)) return true;
      if (isBadRequest(error, /not found|can't be edited|message_id_invalid/i)) return false;
      throw error;
    }
  }
}
