import type { Reply } from '../../src/ports/channel';
import { RecentMap } from './recent';
import type { SentParts } from './sent-parts';
import { TypingIndicators, type TypingOptions } from './typing';

/** A reply shown as its order's one status message: a quote, a status, or a progress update. */
export function isStatusReply(reply: Reply): reply is Reply & { orderId: string } {
  return reply.orderId !== undefined && (reply.kind === 'quote' || reply.kind === 'status' || reply.transient === true);
}

/** What a platform does for one status reply. `S` is how it finds a message again (chat and message id). */
export interface StatusSurface<S> {
  /** Edits the order's status message to this reply; false when it is gone and a new one must be posted. */
  edit(status: S): Promise<boolean>;
  /** Posts this reply as a new status message. */
  post(): Promise<S>;
  /** Shows "typing…" once. */
  typing(): Promise<unknown>;
}

/**
 * The rule both chat presenters follow for an order's progress: one status message per order, edited
 * as the order moves on (a new quote gets a new message), with "typing…" repeated while it is being
 * transcribed and stopped by the final reply.
 */
export class StatusMessages<S> {
  private readonly byOrder = new RecentMap<string, S>(10_000);
  private readonly typing: TypingIndicators;

  constructor(
    typingOptions: TypingOptions,
    private readonly parts: SentParts,
  ) {
    this.typing = new TypingIndicators(typingOptions);
  }

  /** Shows a status reply: edits the order's status message, or posts a new one; starts or stops "typing…". */
  async show(reply: Reply & { orderId: string }, surface: StatusSurface<S>): Promise<void> {
    const { orderId } = reply;
    const existing = this.byOrder.get(orderId);
    // A new quote is a new question for the user (a fresh pay link), so it gets its own message.
    const edited = existing !== undefined && reply.kind !== 'quote' ? await surface.edit(existing) : false;
    if (!edited) {
      const status = await this.parts.once(`${reply.key}#status`, () => surface.post());
      if (status !== undefined) this.byOrder.set(orderId, status);
    }
    if (reply.working) this.typing.start(orderId, () => surface.typing());
    else if (reply.kind === 'status') this.typing.stop(orderId);
  }

  /** The order's final reply is going out, or can never go: no more "typing…". */
  settle(orderId: string | undefined): void {
    if (orderId) this.typing.stop(orderId);
  }

  /** Ends every "typing…" loop (the channel is stopping). */
  close(): void {
    this.typing.close();
  }
}
