import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spokenFile } from '../../../test/support/audio';
import { FakeTelegram } from '../../../test/support/fake-telegram';
import { startTestService, type TestService } from '../../../test/support/service';

/**
 * A burst through the whole service with Telegram's flood limits enforced by the loopback Bot API server (30 sends a
 * second per bot, one a second per chat, 429 with `retry_after` beyond): every voice note gets its transcript exactly
 * once, every /balance its answer, and no send is refused. The full-size figures (300 notes from 100 users) are
 * printed by `npm run bench -- load.bench`.
 */

const USERS = 15;
const NOTES = 2;
const FREE = 600;

describe('Telegram: a burst of voice notes under the flood limits', () => {
  let dir: string;
  let telegram: FakeTelegram;
  let svc: TestService;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'telegram-burst-'));
    telegram = await new FakeTelegram({ floodLimits: true }).start();
    svc = await startTestService({
      env: { TELEGRAM_BOT_TOKEN: telegram.token, TELEGRAM_API_ROOT: telegram.url, NEW_USER_FREE_SECONDS: String(FREE) },
    });
  }, 120_000);
  afterAll(async () => {
    await svc?.stop();
    await telegram?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('delivers each transcript once, answers every /balance, and is never refused with a 429', async () => {
    // Notes of a few seconds, each with a word tiny.en hears reliably in espeak's voice.
    const phrases = [
      { text: 'Please send the quarterly report to the finance team before Friday.', word: 'quarterly' },
      { text: 'The weather will be sunny tomorrow in the mountains.', word: 'mountains' },
    ];
    const notes = await Promise.all(
      phrases.map(async ({ text, word }, i) => ({ text, word, content: await readFile(await spokenFile(dir, `n${i}.ogg`, text)) })),
    );
    const sent: { userId: number; messageId: number; phrase: string; word: string }[] = [];
    const commands: number[] = [];
    for (let user = 1; user <= USERS; user++) {
      const userId = 90_000 + user;
      for (let n = 0; n < NOTES; n++) {
        const note = notes[(user + n) % notes.length]!;
        const file = telegram.addFile(note.content, `voice/u${user}n${n}.oga`);
        const voice = {
          file_id: file.file_id,
          file_unique_id: file.file_unique_id,
          duration: 1,
          mime_type: 'audio/ogg',
          file_size: note.content.length,
        };
        const message = telegram.message({ voice }, { id: userId }) as { message_id: number };
        telegram.pushUpdate({ message });
        sent.push({ userId, messageId: message.message_id, phrase: note.text, word: note.word });
      }
      const balance = telegram.message({ text: '/balance', entities: [{ type: 'bot_command', offset: 0, length: 8 }] }, { id: userId }) as {
        message_id: number;
      };
      telegram.pushUpdate({ message: balance });
      commands.push(balance.message_id);
    }

    const results = (messageId: number) =>
      telegram.sent.filter((m) => m.reply_to === messageId && m.document?.filename.endsWith('_result.json'));
    await telegram.waitFor(() => sent.every((s) => results(s.messageId).length > 0), 240_000);
    // Late duplicates would come within a few sends' time.
    await new Promise((r) => setTimeout(r, 3000));

    for (const { userId, messageId, phrase, word } of sent) {
      const [result, ...again] = results(messageId);
      expect(again, `message ${messageId}`).toEqual([]);
      const text = (JSON.parse(result!.document!.content.toString()) as { text: string }).text.toLowerCase();
      expect(text, phrase).toContain(word);
      expect(telegram.sent.filter((m) => m.reply_to === messageId && m.method === 'sendMessage').length).toBeGreaterThanOrEqual(2);
      expect(String(result!.chat_id)).toBe(String(userId));
    }
    for (const messageId of commands) {
      const answers = telegram.sent.filter((m) => m.reply_to === messageId);
      expect(answers.map((m) => m.text)).toEqual([expect.stringMatching(/balance|left|free/i)]);
    }
    for (let user = 1; user <= USERS; user++) {
      const spent = svc
        .orders()
        .filter((o) => o.senderId === String(90_000 + user))
        .reduce((sum, o) => sum + o.seconds, 0);
      expect(svc.balance('telegram', String(90_000 + user))).toBe(FREE - spent);
    }
    expect(telegram.flood.refused).toBe(0);
    expect(telegram.flood.accepted).toBeGreaterThanOrEqual(USERS * (NOTES * 4 + 1));
  }, 300_000);
});
