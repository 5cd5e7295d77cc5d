/**
 * Sends paced under Telegram's flood limits, against the loopback Bot API server enforcing them (429 with
 * `retry_after` past 30 sends a second per bot, one a second per chat, 20 a minute per group).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log';
import { FakeTelegram } from '../../../test/support/fake-telegram';
import { BotApi } from '../api';
import { SendPacer } from '../pacer';

const log = createLogger('silent');
let telegram: FakeTelegram;

beforeAll(async () => {
  telegram = await new FakeTelegram({ floodLimits: true }).start();
});
afterAll(async () => {
  await telegram?.stop();
});

const api = () => new BotApi(telegram.token, telegram.url, log);
const times = (chatId: number) => telegram.calls.filter((c) => String(c.params.chat_id) === String(chatId)).map((c) => c.at!);

describe('Telegram send pacing', () => {
  it('the loopback server refuses an unpaced burst to one chat, as Telegram does', async () => {
    const bot = api();
    const refused = telegram.flood.refused;
    const outcomes = await Promise.allSettled(
      Array.from({ length: 5 }, (_, n) => bot.once('sendMessage', { chat_id: 7, text: `burst ${n}` })),
    );
    expect(outcomes.filter((o) => o.status === 'rejected')).toHaveLength(4);
    expect(telegram.flood.refused - refused).toBe(4);
  });

  it('a transcript reply per chat for 40 chats at once, text and files: no 429, one send a second per chat, under 30 a second', async () => {
    const bot = api();
    const refused = telegram.flood.refused;
    const chats = Array.from({ length: 40 }, (_, n) => 1000 + n);
    const started = Date.now();
    await Promise.all(
      chats.map(async (chatId) => {
        await bot.call('sendMessage', { chat_id: chatId, text: 'Transcript' });
        for (const name of ['voice.srt', 'voice_result.json']) {
          await bot.call('sendDocument', { chat_id: chatId, document: { source: Buffer.from(`${name} of ${chatId}`), filename: name } });
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    expect(telegram.flood.refused - refused).toBe(0);
    for (const chatId of chats) {
      const at = times(chatId);
      expect(at).toHaveLength(3);
      for (let i = 1; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBeGreaterThanOrEqual(1000);
    }
    // 120 sends at most 30 a second take at least 4 s; paced at 25 a second, about 5.
    expect(seconds).toBeGreaterThanOrEqual(4);
    const all = telegram.calls.filter((c) => chats.includes(Number(c.params.chat_id))).map((c) => c.at!);
    for (const t of all) expect(all.filter((u) => u >= t && u < t + 1000).length).toBeLessThanOrEqual(30);
  });

  it('honours retry_after: the chat that got a 429 waits that long, the others do not', async () => {
    const bot = new BotApi(telegram.token, telegram.url, log, undefined, new SendPacer());
    telegram.failNext('sendMessage', { status: 429, retryAfter: 3 });
    const started = Date.now();
    let firstDone = false;
    const first = bot.call('sendMessage', { chat_id: 2001, text: 'first try refused' }).then(() => (firstDone = true));
    await telegram.waitFor(() => times(2001).length === 1);
    // While chat 2001 waits out its retry_after, chat 2002's send goes through: an order, not a stopwatch.
    await bot.call('sendMessage', { chat_id: 2002, text: 'other chat' });
    expect(firstDone).toBe(false);
    expect(times(2001)).toHaveLength(1);
    await first;
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
    expect(times(2001)).toHaveLength(2);
  });

  it('paces a group chat at 20 sends a minute', async () => {
    // Unpaced, the loopback server refuses the 21st send to a group within a minute.
    const bot = api();
    const results = await Promise.allSettled(
      Array.from({ length: 21 }, (_, n) => bot.once('sendMessage', { chat_id: -500, text: `g${n}` })),
    );
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
    const paced = api();
    const before = Date.now();
    await paced.call('sendMessage', { chat_id: -501, text: 'one' });
    await paced.call('sendMessage', { chat_id: -501, text: 'two' });
    expect(Date.now() - before).toBeGreaterThanOrEqual(3000);
  });
});
