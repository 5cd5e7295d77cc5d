import { DiscordAPIError, HTTPError, RateLimitError } from 'discord.js';
import { DeliveryError } from '../../src/ports/channel';
import { scrubSecrets } from '../../src/secrets';

/**
 * Discord error codes that no retry can fix: the user closed their DMs or left, the channel is gone,
 * the bot lacks access, or the request itself is refused.
 * https://discord.com/developers/docs/topics/opcodes-and-status-codes#json
 */
const PERMANENT_CODES = new Set<number | string>([
  10003, // Unknown Channel
  10008, // Unknown Message (editing a deleted one)
  10013, // Unknown User
  10015, // Unknown Webhook (interaction token expired)
  40005, // Request entity too large
  50001, // Missing Access
  50007, // Cannot send messages to this user
  50013, // Missing Permissions
  50027, // Invalid Webhook Token
  50035, // Invalid Form Body
  50083, // Thread is archived
]);

/** The parts of an error worth logging: never its URL, which carries interaction tokens. */
export function describeError(error: unknown): { status?: number; code?: number | string; reason: string } {
  if (error instanceof DiscordAPIError)
    return { status: error.status, code: error.code, reason: firstLine('message' in error.rawError ? error.rawError.message : undefined) };
  if (error instanceof HTTPError) return { status: error.status, reason: 'server error' };
  if (error instanceof RateLimitError) return { status: 429, reason: `rate limited for ${Math.ceil(error.retryAfter / 1000)} s` };
  if (error instanceof DeliveryError) return { reason: error.message };
  return { reason: error instanceof Error ? error.name : 'unknown error' };
}

/** True for a Discord error with one of `codes`. */
export function hasCode(error: unknown, ...codes: number[]): boolean {
  return error instanceof DiscordAPIError && codes.includes(Number(error.code));
}

/**
 * Maps what the REST client threw onto the core's `DeliveryError`. 5xx arrive here only after the REST
 * client's own retries, and 429 only when the wait was too long to sit out, so both are temporary.
 */
export function toDeliveryError(error: unknown): DeliveryError {
  if (error instanceof DeliveryError) return error;
  const { status, code, reason } = describeError(error);
  const message = `discord ${[status, code].filter((x) => x !== undefined).join('/')}: ${scrubSecrets(reason)}`;
  if (error instanceof DiscordAPIError) {
    // 401 is a bad token (fixable by the operator) and 429 a rate limit: both may pass.
    const permanent =
      PERMANENT_CODES.has(error.code) ||
      (error.status >= 400 && error.status < 500 && error.status !== 401 && error.status !== 429 && error.status !== 408);
    return new DeliveryError(message, permanent);
  }
  return new DeliveryError(message, false);
}

function firstLine(text: string | undefined): string {
  return (text ?? 'error').split('\n')[0].slice(0, 200);
}
