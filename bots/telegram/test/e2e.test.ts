import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TranscriptResult } from '../../../src/domain/transcript';
import { generatedVoiceNote, spokenFile } from '../../../test/support/audio';
import { FakeTelegram, type SentMessage } from '../../../test/support/fake-telegram';
import { deliverWebhook, startFakeStripe, stripeEvent, type FakeStripe } from '../../../test/support/fake-stripe';
import type { TestService } from '../../../test/support/service';
import { startTelegramService, type TelegramTestService } from '../../../test/support/telegram-service';

/**
 * The Telegram bot end to end: telegraf against a loopback Bot API server, the real service core, the
 * real Whisper worker, and Stripe's SDK against a Stripe-compatible local server.
 */

const WEBHOOK_SECRET = 'whsec_telegram_end_to_end';
const SHORT = 'Please send the quarterly report to the finance team before Friday.';
const LONG =
  'The train to the city leaves from platform four. Remember to water the plants while I am away. The museum has a large collection of old paintings.';

describe('Telegram bot end to end', () => {
  let dir: string;
  let telegram: FakeTelegram;
  let stripe: FakeStripe;
  let svc: TestService;
  let running: TelegramTestService;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'telegram-e2e-'));
    stripe = await startFakeStripe();
    running = await startTelegramService({
      // Telegram's own 20 MB limit, scaled down so the test need not move 20 MB.
      channel: { maxDownloadBytes: 200_000 },
      service: {
        env: {
          NEW_USER_FREE_SECONDS: '8',
          MAX_FILE_SECONDS: '30',
          STRIPE_SECRET_KEY: stripe.secretKey,
          STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
          STRIPE_API_BASE: stripe.url,
        },
      },
    });
    ({ telegram, svc } = running);
  });
  afterAll(async () => {
    await running?.stop();
    await stripe?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Sends `extra` as a message from `userId`; returns the message. */
  function send(userId: number, extra: Record<string, unknown>): Record<string, unknown> & { message_id: number } {
    const message = telegram.message(extra, { id: userId, first_name: `user${userId}` }) as Record<string, unknown> & {
      message_id: number;
    };
    telegram.pushUpdate({ message });
    return message;
  }
  const voiceOf = async (path: string) => {
    const content = await readFile(path);
    const file = telegram.addFile(content, `voice/file_${Math.random().toString(36).slice(2)}.oga`);
    return { file_id: file.file_id, file_unique_id: file.file_unique_id, duration: 5, mime_type: 'audio/ogg', file_size: content.length };
  };
  const repliesTo = (messageId: number): SentMessage[] => telegram.sent.filter((m) => m.reply_to === messageId);
  const current = (m: SentMessage): string => m.edits.at(-1)?.text ?? m.text ?? '';

  it('a voice note of real speech comes back as a reply with its text and both documents', async () => {
    const voice = await voiceOf(await spokenFile(dir, 'voice.ogg', SHORT));
    const message = send(1001, { voice });

    const documents = await telegram.waitFor(() => {
      const docs = repliesTo(message.message_id).filter((m) => m.method === 'sendDocument');
      return docs.length >= 2 && docs;
    }, 120_000);
    const [status, ...texts] = repliesTo(message.message_id).filter((m) => m.method === 'sendMessage');
    expect(status.text).toMatch(/• voice\.ogg \(0:0\d\)/);
    expect(status.reply_markup).toBeUndefined();
    const everything = texts.map(current).join('\n').toLowerCase();
    for (const word of ['quarterly', 'report', 'finance']) expect(everything).toContain(word);

    expect(documents.map((d) => d.document!.filename).sort()).toEqual(['voice.srt', 'voice_result.json']);
    const json = documents.find((d) => d.document!.filename === 'voice_result.json')!.document!.content.toString();
    const result = JSON.parse(json) as TranscriptResult;
    expect(result).toMatchObject({ version: 1, file: 'voice.ogg', language: 'en' });
    for (const word of ['quarterly', 'finance', 'friday']) expect(result.text.toLowerCase()).toContain(word);
    expect(documents.find((d) => d.document!.filename === 'voice.srt')!.document!.content.toString()).toMatch(/^1\n00:00:0\d,\d{3} --> /);

    const [order] = svc.orders().filter((o) => o.senderId === '1001');
    expect(order.state).toBe('delivered');
    expect(svc.balance('telegram', '1001')).toBe(8 - Math.ceil(result.duration));
  });

  it('audio the free seconds do not cover gets a pay button, which turns into progress once paid', async () => {
    const long = await readFile(await spokenFile(dir, 'meeting.ogg', LONG));
    const file = telegram.addFile(long, 'music/file_long.ogg');
    const message = send(1002, {
      audio: {
        file_id: file.file_id,
        file_unique_id: file.file_unique_id,
        duration: 12,
        mime_type: 'audio/ogg',
        file_name: 'meeting.ogg',
        file_size: long.length,
      },
    });

    const quote = await telegram.waitFor(() => repliesTo(message.message_id).find((m) => m.reply_markup !== undefined), 60_000);
    const order = await svc.waitForOrder((o) => o.senderId === '1002' && o.state === 'awaiting_payment' && o.checkoutId !== null);
    const session = stripe.sessions.get(order.checkoutId!)!;
    expect(quote.text).toMatch(/• meeting\.ogg \(0:\d\d\)/);
    expect(quote.reply_markup).toEqual({ inline_keyboard: [[{ text: expect.stringMatching(/^Pay \$0\.50$/), url: session.url }]] });

    const paid = await deliverWebhook(
      `${svc.url}/webhooks/stripe`,
      stripeEvent('checkout.session.completed', stripe.complete(session.id)),
      { secret: WEBHOOK_SECRET },
    );
    expect(paid.status).toBe(200);

    // The same message now says the payment arrived, without the button.
    await telegram.waitFor(() => quote.edits.some((e) => e.text.startsWith('Payment received')), 30_000);
    expect(quote.edits.at(-1)!.reply_markup).toEqual({ inline_keyboard: [] });

    const documents = await telegram.waitFor(() => {
      const docs = repliesTo(message.message_id).filter((m) => m.method === 'sendDocument');
      return docs.length >= 2 && docs;
    }, 120_000);
    expect(documents.map((d) => d.document!.filename).sort()).toEqual(['meeting.srt', 'meeting_result.json']);
    const result = JSON.parse(
      documents.find((d) => d.document!.filename === 'meeting_result.json')!.document!.content.toString(),
    ) as TranscriptResult;
    for (const word of ['train', 'city', 'platform', 'paintings']) expect(result.text.toLowerCase()).toContain(word);
    expect(svc.orders().find((o) => o.id === order.id)!.state).toBe('delivered');
  });

  it('says the model is English-only when asked for German and in /help, and sends the files /format chose', async () => {
    const user = 1004;
    const answer = async (m: { message_id: number }) => current(await telegram.waitFor(() => repliesTo(m.message_id)[0], 60_000));
    expect(await answer(send(user, { text: '/language de' }))).toContain(
      "I can't transcribe German: this service runs the English-only model tiny.en",
    );
    expect(await answer(send(user, { text: '/translate on' }))).toContain("I can't translate");
    const help = await answer(send(user, { text: '/help' }));
    expect(help).toContain('/format chooses the files you get');
    expect(help).toContain('English-only model tiny.en');
    expect(await answer(send(user, { text: '/format vtt' }))).toBe('Your next transcripts come with these files: vtt.');

    const message = send(user, { voice: await voiceOf(await spokenFile(dir, 'note.ogg', SHORT)) });
    const [document] = await telegram.waitFor(() => {
      const docs = repliesTo(message.message_id).filter((m) => m.method === 'sendDocument');
      return docs.length >= 1 && docs;
    }, 120_000);
    await svc.waitForOrder((o) => o.senderId === String(user) && o.state === 'delivered');
    expect(repliesTo(message.message_id).filter((m) => m.method === 'sendDocument')).toHaveLength(1);
    expect(document.document!.filename).toBe('voice.vtt');
    expect(document.document!.content.toString()).toMatch(/^WEBVTT\n\n00:00:0\d\.\d{3} --> 00:00:0\d\.\d{3}\n.*quarterly/i);
    const texts = repliesTo(message.message_id)
      .filter((m) => m.method === 'sendMessage')
      .map(current);
    expect(texts.some((t) => t.includes('Language: English.'))).toBe(true);
  });

  it('each refusal is one clear reply, and nothing is charged', async () => {
    const user = 1003;
    const silence = await generatedVoiceNote(dir, 'silence.ogg', 'anullsrc=r=16000:cl=mono', 40);

    const big = telegram.addFile(Buffer.alloc(300_000, 7));
    const tooLarge = send(user, { voice: { file_id: big.file_id, file_unique_id: 'big', duration: 100, file_size: 300_000 } });
    const junk = telegram.addFile(Buffer.from('this is not audio at all\n'.repeat(200)));
    const notAudio = send(user, {
      document: { file_id: junk.file_id, file_unique_id: 'junk', mime_type: 'audio/mpeg', file_name: 'song.mp3' },
    });
    const tooLong = send(user, { voice: await voiceOf(silence) });
    const noFile = send(user, { text: 'hello there' });
    const balance = send(user, { text: '/balance' });

    const answer = async (m: { message_id: number }) => current(await telegram.waitFor(() => repliesTo(m.message_id)[0], 60_000));
    expect(await answer(tooLarge)).toContain('voice.ogg: larger than');
    expect(await answer(notAudio)).toContain('song.mp3: not an audio or video file');
    expect(await answer(tooLong)).toContain('voice.ogg: longer than the 0:30 limit');
    expect(await answer(noFile)).toContain('Please send an audio or video file');
    expect(await answer(balance)).toBe('You have 8 s of transcription left.');
    expect(svc.balance('telegram', String(user))).toBe(8);
    expect(telegram.downloaded).not.toContain(big.file_path); // refused before fetching
  });
});
