import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generatedVoiceNote } from '../../../test/support/audio';
import { FakeTelegram } from '../../../test/support/fake-telegram';
import { ScriptedRunner } from '../../../test/support/runners';
import type { TestService } from '../../../test/support/service';
import { startTelegramService, type TelegramTestService } from '../../../test/support/telegram-service';

/**
 * A file download that stops (Telegram's file server sends part of a file, or nothing, and keeps the connection
 * open): the file is refused as stalled after PLATFORM_CALL_TIMEOUT_SECONDS, nothing is charged, and the sender's
 * next recording is taken. Before, the download waited forever, and with it every later message of that sender.
 */
describe('Telegram: a download that stops', () => {
  let dir: string;
  let note: Buffer;
  let telegram: FakeTelegram;
  let svc: TestService;
  let running: TelegramTestService;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'telegram-stall-'));
    note = await readFile(await generatedVoiceNote(dir, 'note.ogg', 'anullsrc=r=16000:cl=mono', 2));
    running = await startTelegramService({
      service: {
        runner: new ScriptedRunner('pending'),
        env: { NEW_USER_FREE_SECONDS: '600', PLATFORM_CALL_TIMEOUT_SECONDS: '1' },
      },
    });
    ({ telegram, svc } = running);
  });
  afterAll(async () => {
    await running?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const send = (userId: number, stallAfter?: number | 'no answer') => {
    const file = telegram.addFile(note, `voice/file_${Math.random().toString(36).slice(2)}.oga`);
    if (stallAfter !== undefined) telegram.stallDownload(file.file_path, stallAfter === 'no answer' ? undefined : stallAfter);
    const voice = { file_id: file.file_id, file_unique_id: file.file_unique_id, duration: 2, mime_type: 'audio/ogg' };
    const message = telegram.message({ voice }, { id: userId, first_name: `user${userId}` }) as { message_id: number };
    telegram.pushUpdate({ message });
    return message;
  };
  const replyTo = (messageId: number) =>
    telegram.waitFor(() => telegram.sent.find((m) => m.reply_to === messageId && m.method === 'sendMessage'), 60_000);
  const ordersOf = (userId: number) => svc.orders().filter((o) => o.senderId === String(userId));

  for (const [stall, what] of [
    [100, 'after the first bytes'],
    ['no answer', 'before any answer'],
  ] as const) {
    it(`refuses a file whose download stops ${what}, charges nothing, and takes the sender's next recording`, async () => {
      const userId = stall === 'no answer' ? 702 : 701;
      const stalled = send(userId, stall);
      const refusal = await replyTo(stalled.message_id);
      expect(refusal.text).toContain('the download stopped for 1 s, so I skipped it; please send it again');
      expect(refusal.text).toContain('Nothing was charged.');
      expect(svc.balance('telegram', String(userId))).toBe(600);

      const next = send(userId);
      const taken = await replyTo(next.message_id);
      expect(taken.text).not.toContain('skipped');
      expect(taken.text).toMatch(/• voice\.ogg \(0:02\)/);
      const states = ordersOf(userId).map((o) => o.state);
      expect(states.filter((state) => state === 'rejected')).toHaveLength(1);
      expect(states.filter((state) => state !== 'rejected')).toEqual([expect.stringMatching(/^(queued|running)$/)]);
      expect(svc.balance('telegram', String(userId))).toBe(598);
    });
  }
});
