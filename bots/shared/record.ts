import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../src/log';
import type { IncomingMessage, MessageHandler } from '../../src/ports/channel';
import { backoff } from '../../src/retry/backoff';

/** How long a chat adapter keeps handing a message to the core while the core cannot record it. */
export interface HandlerRetry {
  /** First wait; doubles with each further attempt. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Attempts in all, the first included. */
  maxAttempts: number;
}

/** 1 s doubling to 60 s, 10 attempts: about 4 minutes, long enough to ride out a restart of the database or disk. */
export const defaultHandlerRetry: HandlerRetry = { baseDelayMs: 1000, maxDelayMs: 60_000, maxAttempts: 10 };

/** `recorded`: the core has it; `dropped`: retries are spent; `stopped`: the channel stopped before it was recorded. */
export type RecordOutcome = 'recorded' | 'dropped' | 'stopped';

/**
 * Hands one message to the core until it is durably recorded. Chat platforms do not redeliver a
 * message the bot failed to take (the gateway never does; Telegram only while the offset stays), so a
 * transient failure is retried here with back-off. Stopping (`signal`) ends the waits at once.
 */
export async function recordWithRetry(
  onMessage: MessageHandler,
  message: IncomingMessage,
  options: { retry: HandlerRetry; signal: AbortSignal; log: Logger; platform: string },
): Promise<RecordOutcome> {
  const { retry, signal, log, platform } = options;
  for (let attempt = 1; ; attempt++) {
    try {
      await onMessage(message);
      log.debug({ messageId: message.id, attachments: message.attachments.length }, `${platform} message recorded`);
      return 'recorded';
    } catch (error) {
      if (signal.aborted) return 'stopped';
      if (attempt >= retry.maxAttempts) {
        log.error({ messageId: message.id, err: error }, `${platform} message not recorded after retries; dropped`);
        return 'dropped';
      }
      const wait = backoff(attempt, retry.baseDelayMs, retry.maxDelayMs);
      log.warn({ messageId: message.id, attempt, waitMs: wait, err: error }, `${platform} message not recorded yet; retrying`);
      try {
        await sleep(wait, undefined, { signal });
      } catch {
        return 'stopped';
      }
    }
  }
}
