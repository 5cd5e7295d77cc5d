import { setTimeout as sleep } from 'node:timers/promises';
import { Telegram, TelegramError } from 'telegraf';
import type { Logger } from '../../src/log';
import { DeliveryError } from '../../src/ports/channel';
import { scrubbedMessage, scrubSecrets } from '../../src/secrets';
import { backoff } from '../../src/retry/backoff';
import { SendPacer } from './pacer';

/** Calls that post into a chat, and so count against Telegram's per-chat and per-bot limits. */
const PACED = new Set([
  'sendMessage',
  'sendDocument',
  'sendPhoto',
  'sendAudio',
  'sendVoice',
  'sendVideo',
  'sendMediaGroup',
  'editMessageText',
  'editMessageReplyMarkup',
  'copyMessage',
  'forwardMessage',
]);

/** How Bot API calls are retried. */
export interface RetryPolicy {
  /** Attempts in all, the first included, for 5xx and network failures. */
  maxAttempts: number;
  /** First backoff after a 5xx or network failure; doubles each time. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** A 429 asking to wait longer than this is handed back to the caller instead of slept through. */
  maxRetryAfterSeconds: number;
}

/** Bot API calls answer in well under a second; an upload of a transcript's files in a few. */
export const DEFAULT_CALL_TIMEOUT_MS = 30_000;

/** A Bot API call that got no answer in time. Not retried in place: the caller's own back-off tries again later. */
export class TelegramTimeout extends Error {
  constructor(method: string, limitMs: number, options?: ErrorOptions) {
    super(`telegram ${method} got no answer within ${limitMs / 1000} s`, options);
    this.name = 'TelegramTimeout';
  }
}

/** Five attempts over about 7.5 s for server errors; 429 waits are honoured up to a minute. */
export const defaultRetryPolicy: RetryPolicy = { maxAttempts: 5, baseDelayMs: 500, maxDelayMs: 8_000, maxRetryAfterSeconds: 60 };

/**
 * A Bot API client that retries what Telegram asks to be retried (429 after `retry_after`, 5xx and
 * network failures with bounded backoff) and hands every other error straight back.
 */
export class BotApi {
  readonly telegram: Telegram;

  constructor(
    token: string,
    readonly apiRoot: string,
    private readonly log: Logger,
    private readonly policy: RetryPolicy = defaultRetryPolicy,
    /** Shared by every call of this bot, so all its sends are paced together. */
    readonly pacer = new SendPacer(),
    /** How long one call may go unanswered; a long poll gets its own wait on top. */
    private readonly timeoutMs = DEFAULT_CALL_TIMEOUT_MS,
  ) {
    this.telegram = new Telegram(token, { apiRoot });
  }

  /** Groups that became supergroups: the old chat id, as orders were addressed, to the new one. */
  private readonly migrations = new Map<string, number>();

  /**
   * One call, no retries: for long polls and best-effort calls such as chat actions. A call unanswered after
   * `timeoutMs` (a long poll: after its own wait and `timeoutMs`) is abandoned with `TelegramTimeout`: a server that
   * never answers would otherwise hold that chat's sends, and the order's later replies, until a restart.
   */
  async once<T>(method: string, payload: Record<string, unknown>, signal?: AbortSignal): Promise<T> {
    // The typed wrappers lag behind the Bot API (reply_to_message_id on uploads), so calls go by name.
    const callApi = this.telegram.callApi.bind(this.telegram) as unknown as (
      m: string,
      p: Record<string, unknown>,
      o: { signal?: AbortSignal },
    ) => Promise<T>;
    const limitMs = this.timeoutMs + (method === 'getUpdates' ? Number(payload.timeout ?? 0) * 1000 : 0);
    const timeout = AbortSignal.timeout(limitMs);
    try {
      return await callApi(method, payload, { signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
    } catch (error) {
      if (timeout.aborted && !signal?.aborted) throw new TelegramTimeout(method, limitMs, { cause: error });
      throw error;
    }
  }

  /**
   * One call with Telegram's retry rules applied. Sends into a chat are paced below Telegram's limits
   * (`pacer.ts`), each attempt anew, and a 429 holds that chat back for its `retry_after`.
   */
  async call<T>(method: string, payload: Record<string, unknown>, signal?: AbortSignal): Promise<T> {
    const written = payload.chat_id as string | number | undefined;
    const moved = written === undefined ? undefined : this.migrations.get(String(written));
    try {
      return await this.callPaced<T>(method, moved === undefined ? payload : { ...payload, chat_id: moved }, signal);
    } catch (error) {
      // A group that became a supergroup (made public, or past 200 members) has a new id; Telegram names it once.
      const to = error instanceof TelegramError ? error.parameters?.migrate_to_chat_id : undefined;
      if (to === undefined || written === undefined || moved !== undefined) throw error;
      this.migrations.set(String(written), to);
      this.log.info({ from: written, to }, 'telegram group became a supergroup; its replies go to the new chat');
      return this.callPaced<T>(method, { ...payload, chat_id: to }, signal);
    }
  }

  private async callPaced<T>(method: string, payload: Record<string, unknown>, signal?: AbortSignal): Promise<T> {
    const chatId = PACED.has(method) ? (payload.chat_id as string | number | undefined) : undefined;
    if (chatId === undefined) return this.retrying(method, () => this.once<T>(method, payload, signal), signal);
    return this.retrying(
      method,
      () =>
        this.pacer.paced(chatId, async () => {
          try {
            return await this.once<T>(method, payload, signal);
          } catch (error) {
            if (error instanceof TelegramError && error.code === 429) this.pacer.holdBack(chatId, error.parameters?.retry_after ?? 1);
            throw error;
          }
        }),
      signal,
    );
  }

  /** Runs `attempt` until it succeeds or fails in a way Telegram's rules say not to retry. */
  async retrying<T>(what: string, attempt: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let n = 1; ; n++) {
      try {
        return await attempt();
      } catch (error) {
        const wait = this.retryDelay(error, n);
        if (wait === undefined || signal?.aborted) throw error;
        this.log.warn({ method: what, attempt: n, waitMs: wait, code: errorCode(error) }, 'telegram call failed, retrying');
        await sleep(wait, undefined, { signal });
      }
    }
  }

  /** Milliseconds to wait before the next attempt, or undefined when the error is not worth retrying. */
  private retryDelay(error: unknown, attempt: number): number | undefined {
    if (error instanceof TelegramError && error.code === 429) {
      const retryAfter = error.parameters?.retry_after ?? 1;
      if (retryAfter > this.policy.maxRetryAfterSeconds || attempt >= this.policy.maxAttempts) return undefined;
      return retryAfter * 1000;
    }
    if (!isTransient(error) || attempt >= this.policy.maxAttempts) return undefined;
    return backoff(attempt, this.policy.baseDelayMs, this.policy.maxDelayMs);
  }
}

/** Server errors and failed connections: another attempt may well work. */
export function isTransient(error: unknown): boolean {
  if (error instanceof TelegramError) return error.code >= 500 || error.code === 429;
  const { name, message } = (error ?? {}) as { name?: string; message?: string };
  // node-fetch (telegraf) reports network failures as FetchError, Node's fetch (downloads) as "fetch failed".
  return name === 'FetchError' || (name === 'TypeError' && message === 'fetch failed');
}

/** The Bot API error code, for logs. */
export function errorCode(error: unknown): number | string | undefined {
  if (error instanceof TelegramError) return error.code;
  return (error as { code?: string } | undefined)?.code ?? (error as { name?: string } | undefined)?.name;
}

/** True for a 400 whose description matches, e.g. "message is not modified". */
export function isBadRequest(error: unknown, pattern: RegExp): boolean {
  return error instanceof TelegramError && error.code === 400 && pattern.test(error.description ?? '');
}

/**
 * Maps a failed send to the port's error. Blocked, kicked, deactivated and bad requests are permanent:
 * sending again cannot help. Rate limits, server errors and a rejected token may pass, so they are not. The
 * message is scrubbed: node-fetch names the request URL, which carries the bot token, when an answer is not JSON.
 */
export function toDeliveryError(error: unknown): DeliveryError {
  if (error instanceof DeliveryError) return error;
  if (error instanceof TelegramError) {
    const permanent = error.code === 403 || error.code === 400;
    return new DeliveryError(`telegram ${error.code}: ${scrubSecrets(error.description ?? '')}`, permanent, { cause: error });
  }
  return new DeliveryError(`telegram unreachable: ${scrubbedMessage(error)}`, false, { cause: error });
}
