import { setTimeout as sleep } from 'node:timers/promises';

/** How fast the bot may send, kept under Telegram's limits. */
export interface SendLimits {
  /** Sends per second for the whole bot (Telegram: about 30). */
  perSecond: number;
  /** Least time between two sends to one private chat (Telegram: about one a second). */
  chatIntervalMs: number;
  /** Least time between two sends to one group or channel (Telegram: 20 a minute). */
  groupIntervalMs: number;
}

/**
 * Under each limit with room to spare: timers on a busy machine fire late and bunch sends that were spaced. The bot's
 * budget is claimed one send at a time, 40 ms apart, so no second holds more than 26 claims (grammY's throttler
 * allows bursts of 30); at 20 a second the sends, not the engines, were what a burst of voice notes waited for.
 */
export const telegramLimits: SendLimits = { perSecond: 25, chatIntervalMs: 1100, groupIntervalMs: 3100 };

/** Chats remembered at most; older ones are forgotten (their next send simply does not wait). */
const MAX_CHATS = 10_000;

interface ChatLane {
  /** The previous send's turn: the next one starts after it. */
  tail: Promise<void>;
  /** When the chat's last send went out, or when a 429 said it may send again. */
  readyAt: number;
  waiting: number;
}

/**
 * Paces the bot's sends below Telegram's limits instead of running into 429s: sends to one chat go one at a
 * time, `chatIntervalMs` apart (`groupIntervalMs` for groups, whose ids are negative), and all sends share one
 * budget of `perSecond`. A 429's `retry_after` holds that chat back for as long as it says. Sends to different
 * chats do not wait for each other beyond the shared budget, so one busy chat does not slow the rest.
 */
export class SendPacer {
  private readonly chats = new Map<string, ChatLane>();
  private lastGlobalAt = 0;

  constructor(
    private readonly limits: SendLimits = telegramLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Waits for this chat's turn and a slot in the bot's budget; `send` runs then, and the chat's next send waits for it. */
  async paced<T>(chatId: string | number, send: () => Promise<T>): Promise<T> {
    const key = String(chatId);
    const lane = this.lane(key);
    const previous = lane.tail;
    let done!: () => void;
    lane.tail = new Promise<void>((resolve) => (done = resolve));
    lane.waiting += 1;
    try {
      await previous;
      const interval = key.startsWith('-') ? this.limits.groupIntervalMs : this.limits.chatIntervalMs;
      const chatWait = lane.readyAt + interval - this.now();
      if (chatWait > 0) await sleep(chatWait);
      // Claimed only when it is really time: a slot booked ahead would let sends whose timers fired late (a busy
      // event loop) all go at once.
      for (
        let wait = this.lastGlobalAt + 1000 / this.limits.perSecond - this.now();
        wait > 0;
        wait = this.lastGlobalAt + 1000 / this.limits.perSecond - this.now()
      ) {
        await sleep(wait);
      }
      this.lastGlobalAt = this.now();
      try {
        return await send();
      } finally {
        lane.readyAt = Math.max(lane.readyAt, this.now());
      }
    } finally {
      lane.waiting -= 1;
      done();
    }
  }

  /** Telegram answered 429 for this chat: nothing more goes to it for `retryAfterSeconds`. */
  holdBack(chatId: string | number, retryAfterSeconds: number): void {
    const lane = this.lane(String(chatId));
    // readyAt + interval is when the next send may go; make that the moment Telegram named.
    lane.readyAt = Math.max(lane.readyAt, this.now() + retryAfterSeconds * 1000 - this.limits.chatIntervalMs);
  }

  private lane(key: string): ChatLane {
    let lane = this.chats.get(key);
    if (!lane) {
      if (this.chats.size >= MAX_CHATS) this.forgetIdle();
      lane = { tail: Promise.resolve(), readyAt: 0, waiting: 0 };
      this.chats.set(key, lane);
    }
    return lane;
  }

  private forgetIdle(): void {
    const cutoff = this.now() - this.limits.groupIntervalMs;
    for (const [key, lane] of this.chats) if (lane.waiting === 0 && lane.readyAt < cutoff) this.chats.delete(key);
  }
}
