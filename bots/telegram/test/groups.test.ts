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
 * In a group the bot sees what members send to each other (with privacy mode off, or as an admin). A recording is
 * taken only when it is addressed to the bot: a reply to one of the bot's messages, a caption that mentions
 * @botname, or a command; anything else is left alone, without an order, a charge or a reply.
 */

const GROUP = -100_777;

describe('Telegram groups: only recordings addressed to the bot', () => {
  let dir: string;
  let telegram: FakeTelegram;
  let svc: TestService;
  let running: TelegramTestService;
  let note: Buffer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'telegram-groups-'));
    note = await readFile(await generatedVoiceNote(dir, 'note.ogg', 'anullsrc=r=16000:cl=mono', 2));
    running = await startTelegramService({ service: { runner: new ScriptedRunner('pending') } });
    ({ telegram, svc } = running);
  });
  afterAll(async () => {
    await running?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Posts a group message from `userId`; resolves with it once the bot has finished with it (confirmed its update). */
  async function post(userId: number, extra: Record<string, unknown>): Promise<{ message_id: number }> {
    const message = telegram.message(extra, { id: userId }, GROUP) as { message_id: number };
    const updateId = telegram.pushUpdate({ message });
    await telegram.waitFor(() => telegram.callsOf('getUpdates').some((c) => Number(c.params.offset) > updateId), 30_000);
    return message;
  }
  const voice = () => {
    const file = telegram.addFile(note, `voice/file_${Math.random().toString(36).slice(2)}.oga`);
    return { file_id: file.file_id, file_unique_id: file.file_unique_id, duration: 2, mime_type: 'audio/ogg' };
  };
  const ordersOf = (userId: number) => svc.orders().filter((o) => o.senderId === String(userId));
  const repliesTo = (messageId: number) => telegram.sent.filter((m) => m.chat_id === String(GROUP) && m.reply_to === messageId);

  it('a voice note nobody addressed to the bot gets no order and no reply', async () => {
    const message = await post(501, { voice: voice() });
    expect(ordersOf(501)).toEqual([]);
    expect(repliesTo(message.message_id)).toEqual([]);
  });

  it("a caption mentioning @botname, or a reply to the bot, makes it the bot's", async () => {
    const mentioned = await post(502, { voice: voice(), caption: `@${telegram.username} please` });
    expect(ordersOf(502)).toHaveLength(1);
    const botMessage = await telegram.waitFor(() => repliesTo(mentioned.message_id)[0]);

    const reply = await post(503, {
      voice: voice(),
      reply_to_message: {
        message_id: botMessage.message_id,
        date: 0,
        chat: { id: GROUP, type: 'group' },
        from: { id: telegram.botId, is_bot: true, first_name: 'Transcribe', username: telegram.username },
      },
    });
    expect(ordersOf(503)).toHaveLength(1);
    await telegram.waitFor(() => repliesTo(reply.message_id)[0]);
  });

  it("a caption mentioning someone else, or a reply to another member, is not the bot's", async () => {
    await post(504, { voice: voice(), caption: '@someone_else listen to this' });
    await post(504, {
      voice: voice(),
      reply_to_message: { message_id: 1, date: 0, chat: { id: GROUP, type: 'group' }, from: { id: 505, is_bot: false, first_name: 'Bo' } },
    });
    expect(ordersOf(504)).toEqual([]);
  });

  it('a command is answered; chatter, even naming the bot, gets no help', async () => {
    const chatter = await post(506, { text: 'hello everyone' });
    const naming = await post(506, { text: `what does @${telegram.username} do?` });
    const command = await post(506, { text: `/balance@${telegram.username}` });
    await telegram.waitFor(() => repliesTo(command.message_id)[0]);
    expect(repliesTo(chatter.message_id)).toEqual([]);
    expect(repliesTo(naming.message_id)).toEqual([]);
  });
});
