import type { Logger } from '../../src/log';
import type { DeliveryError, Reply } from '../../src/ports/channel';
import type { StatusMessages } from './status';

/** What `deliverReply` needs of a chat presenter. */
export interface DeliveryOptions {
  /** Maps what the platform's client threw onto the core's `DeliveryError`. */
  toDeliveryError(error: unknown): DeliveryError;
  /** The order status messages, whose "typing…" a permanent failure stops. */
  status: Pick<StatusMessages<unknown>, 'settle'>;
  log: Logger;
  /** Names the platform in the log line. */
  platform: string;
  /** Fields of the error safe to log (never a URL with a token in it); none when absent. */
  describe?(error: unknown): object;
}

/**
 * Runs `present` for one reply; a failure is thrown on as the platform's `DeliveryError`, logged once. A
 * permanent failure (the user blocked the bot, the chat is gone) also ends the order's "typing…": no later
 * reply of that order will reach the chat to stop it.
 */
export async function deliverReply(reply: Reply, present: () => Promise<void>, options: DeliveryOptions): Promise<void> {
  try {
    await present();
  } catch (error) {
    const failure = options.toDeliveryError(error);
    if (failure.permanent) options.status.settle(reply.orderId);
    options.log.warn(
      { key: reply.key, kind: reply.kind, orderId: reply.orderId, permanent: failure.permanent, ...options.describe?.(error) },
      `${options.platform} delivery failed`,
    );
    throw failure;
  }
}
