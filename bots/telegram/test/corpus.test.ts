import { readFile, rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spokenFile } from '../../../test/support/audio';
import {
  CHECK_SENTENCE,
  checkRefusal,
  CORPUS_LIMITS,
  corpusEnv,
  expectFilesUpToLimit,
  makeCorpus,
  type BadInput,
} from '../../../test/support/bad-inputs';
import { FakeTelegram, type SentMessage } from '../../../test/support/fake-telegram';
import { startTestService, type TestService } from '../../../test/support/service';

/**
 * The bad-input corpus through the Telegram bot, built from the environment as `npm start` builds it: every
 * malformed or odd file gets one clear line naming it, what is not audio costs nothing, nothing empty is sent, and
 * the service still transcribes a real voice note afterwards.
 */

const FREE = 120;

describe('Telegram: the bad-input corpus', () => {
  let dir: string;
  let telegram: FakeTelegram;
  let svc: TestService;
  let refused: BadInput[];
  let audio: BadInput[];

  beforeAll(async () => {
    ({ dir, refused, audio } = await makeCorpus('telegram-corpus-'));
    telegram = await new FakeTelegram().start();
    svc = await startTestService({
      env: {
        TELEGRAM_BOT_TOKEN: telegram.token,
        TELEGRAM_API_ROOT: telegram.url,
        ...corpusEnv(FREE),
      },
    });
  }, 120_000);
  afterAll(async () => {
    await svc?.stop();
    await telegram?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const repliesTo = (messageId: number): SentMessage[] => telegram.sent.filter((m) => m.reply_to === messageId);
  const current = (m: SentMessage): string => m.edits.at(-1)?.text ?? m.text ?? '';

  /** A document message carrying `input`, from `userId`; returns the message id. */
  function sendDocument(userId: number, input: BadInput, extra: Record<string, unknown> = {}): number {
    const file = telegram.addFile(input.content);
    const size = input.declaredSize === -1 ? {} : { file_size: input.declaredSize ?? input.content.length };
    const message = telegram.message(
      {
        document: { file_id: file.file_id, file_unique_id: file.file_unique_id, file_name: input.name, mime_type: input.mimeType, ...size },
        ...extra,
      },
      { id: userId, first_name: `corpus${userId}` },
    ) as { message_id: number };
    telegram.pushUpdate({ message });
    return message.message_id;
  }

  it('answers each refused input with one line naming it and the reason, and charges nothing', async () => {
    // One user per input: each message is its own order, and the flood limit is per user.
    const sent = refused.map((input, i) => ({ input, userId: 5000 + i, messageId: sendDocument(5000 + i, input) }));
    const problems: string[] = [];
    for (const { input, userId, messageId } of sent) {
      const reply = await telegram.waitFor(() => repliesTo(messageId)[0], 60_000).catch(() => undefined);
      if (!reply) {
        problems.push(`${input.label}: no reply`);
        continue;
      }
      const problem = checkRefusal(current(reply), input);
      if (problem) problems.push(problem);
      if (repliesTo(messageId).length !== 1) problems.push(`${input.label}: ${repliesTo(messageId).length} replies`);
      if (svc.balance('telegram', String(userId)) !== FREE) problems.push(`${input.label}: balance changed`);
    }
    expect(problems).toEqual([]);
    expect(refused.length + audio.length).toBeGreaterThanOrEqual(50);
  }, 300_000);

  it('takes real audio in any odd shape as one album, and names each file past the per-message limit', async () => {
    const extras = refused.filter((i) => i.name === 'random.mp3' || i.name === 'notes.mp3' || i.name === 'image.mp3');
    const album = [...audio, ...extras].map((input) => ({ ...input, name: `album-${input.name}`, shownAs: `album-${input.shownAs}` }));
    expect(album.length).toBeGreaterThan(CORPUS_LIMITS.maxFilesPerMessage);
    const ids = album.map((input) => sendDocument(6001, input, { media_group_id: 'corpus-album' }));
    const first = Math.min(...ids);

    const order = await svc.waitForOrder((o) => o.senderId === '6001' && (o.state === 'delivered' || o.state === 'failed'), 180_000);
    expect(order.state).toBe('delivered');
    const replies = await telegram.waitFor(() => {
      const all = repliesTo(first);
      return all.some((m) => m.method === 'sendDocument') && all;
    }, 60_000);
    const status = current(replies[0]!);
    expectFilesUpToLimit(status, album);
    // Silence, noise and the rest were charged for what they hold, nothing more.
    expect(svc.balance('telegram', '6001')).toBe(FREE - order.seconds);
    expect(replies.map(current).join('\n')).toMatch(/album-silence\.ogg: I heard no speech/);
  }, 300_000);

  it('sends nothing empty and stays up: health answers and a real voice note is transcribed', async () => {
    const voice = await readFile(await spokenFile(dir, 'check.ogg', CHECK_SENTENCE));
    const file = telegram.addFile(voice, 'voice/check.oga');
    const message = telegram.message(
      { voice: { file_id: file.file_id, file_unique_id: 'check', duration: 4, mime_type: 'audio/ogg', file_size: voice.length } },
      { id: 7001 },
    ) as { message_id: number };
    telegram.pushUpdate({ message });
    const docs = await telegram.waitFor(() => {
      const d = repliesTo(message.message_id).filter((m) => m.method === 'sendDocument');
      return d.length >= 2 && d;
    }, 120_000);
    const json = docs.find((d) => d.document!.filename.endsWith('_result.json'))!.document!.content.toString();
    expect((JSON.parse(json) as { text: string }).text.toLowerCase()).toContain('quarterly');

    const health = await fetch(`${svc.url}/healthz`);
    expect(health.status).toBe(200);
    for (const m of telegram.sent) {
      if (m.method === 'sendDocument') expect(m.document!.content.length, m.document!.filename).toBeGreaterThan(0);
      else expect(current(m).trim()).not.toBe('');
    }
  }, 180_000);
});
