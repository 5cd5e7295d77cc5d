import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TranscriptResult } from '../../../src/domain/transcript';
import { spokenFile } from '../../../test/support/audio';
import { FakeTelegram, type SentMessage } from '../../../test/support/fake-telegram';
import type { TestService } from '../../../test/support/service';
import { startTelegramService, type TelegramTestService } from '../../../test/support/telegram-service';

/**
 * Recordings that come with words or names that could trip the bot, through the real worker: a caption that
 * is a command, and an album whose names collide once the bot makes repeated names unique.
 */
describe('Telegram: recordings with captions and clashing names', () => {
  let dir: string;
  let telegram: FakeTelegram;
  let svc: TestService;
  let running: TelegramTestService;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'telegram-words-'));
    running = await startTelegramService({ service: { env: { NEW_USER_FREE_SECONDS: '600' } } });
    ({ telegram, svc } = running);
  });
  afterAll(async () => {
    await running?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const send = (userId: number, extra: Record<string, unknown>) => {
    const message = telegram.message(extra, { id: userId, first_name: `user${userId}` }) as { message_id: number };
    telegram.pushUpdate({ message });
    return message;
  };
  const upload = async (name: string, words: string) => {
    // Spoken into Ogg whatever the name says: the bot goes by what the bytes are.
    const content = await readFile(await spokenFile(dir, `${name}.ogg`, words));
    return { content, file: telegram.addFile(content, `music/file_${Math.random().toString(36).slice(2)}.ogg`) };
  };
  const documentsFor = (messageId: number, count: number) =>
    telegram.waitFor(() => {
      const docs = telegram.sent.filter((m) => m.reply_to === messageId && m.method === 'sendDocument');
      return docs.length >= count && docs;
    }, 120_000);
  const current = (m: SentMessage) => m.edits.at(-1)?.text ?? m.text ?? '';

  it('takes a voice note captioned with a command as a recording, applying the command first', async () => {
    const { content, file } = await upload('voice.ogg', 'Please call the plumber tomorrow morning.');
    const voice = {
      file_id: file.file_id,
      file_unique_id: file.file_unique_id,
      duration: 3,
      mime_type: 'audio/ogg',
      file_size: content.length,
    };
    const message = send(3101, { voice, caption: '/format txt' });

    const [document] = await documentsFor(message.message_id, 1);
    expect(document!.document!.filename).toBe('voice.txt');
    expect(document!.document!.content.toString().toLowerCase()).toContain('plumber');
    const said = telegram.sent.filter((m) => m.reply_to === message.message_id && m.method === 'sendMessage').map(current);
    expect(said.join('\n')).toMatch(/• voice\.ogg \(0:0\d\)/);
    expect(
      svc
        .orders()
        .filter((o) => o.senderId === '3101')
        .map((o) => o.state),
    ).toEqual(['delivered']);
  });

  it('sends every transcript of an album whose names clash once repeats are numbered: talk.mp3, talk.ogg, talk-2.ogg', async () => {
    const parts = [
      ['talk.mp3', 'The garden needs water every evening.'],
      ['talk.ogg', 'Our flight lands at seven in the morning.'],
      ['talk-2.ogg', 'The library closes early on Sundays.'],
    ] as const;
    // Every part is spoken before the first is sent: an album's parts must arrive within its window (a second),
    // and speaking one can take longer than that on a loaded machine.
    const uploads = await Promise.all(parts.map(([name, words]) => upload(name, words)));
    const ids: number[] = [];
    for (const [i, [name]] of parts.entries()) {
      const { content, file } = uploads[i]!;
      const audio = {
        file_id: file.file_id,
        file_unique_id: `${file.file_unique_id}${i}`,
        duration: 3,
        mime_type: 'audio/ogg',
        file_name: name,
      };
      ids.push(send(3102, { media_group_id: 'album-3102', audio: { ...audio, file_size: content.length } }).message_id);
    }

    const documents = await documentsFor(ids[0]!, 6);
    const byName = new Map(documents.map((d) => [d.document!.filename, d.document!.content.toString()]));
    expect([...byName.keys()].sort()).toEqual([
      'talk-2.srt',
      'talk-2_result.json',
      'talk-3.srt',
      'talk-3_result.json',
      'talk.srt',
      'talk_result.json',
    ]);
    // Each result file is its own recording's: named for it, with its words.
    for (const [stem, file, word] of [
      ['talk', 'talk.mp3', 'garden'],
      ['talk-3', 'talk.ogg', 'morning'],
      ['talk-2', 'talk-2.ogg', 'library'],
    ] as const) {
      const result = JSON.parse(byName.get(`${stem}_result.json`)!) as TranscriptResult;
      expect(result.file).toBe(file);
      expect(result.text.toLowerCase()).toContain(word);
    }
  });
});
