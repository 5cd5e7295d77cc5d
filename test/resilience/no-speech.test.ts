import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TranscriptResult } from '../../src/domain/transcript';
import { buildMail } from '../../mail/test/fixtures';
import { generatedVoiceNote, spokenFile } from '../support/audio';
import type { TestDovecot } from '../support/dovecot';
import type { FakeDiscord, FakeUser } from '../support/fake-discord';
import type { FakeTelegram } from '../support/fake-telegram';
import { startAllChannels, type AllChannels } from '../support/all-channels';
import { startTestService, type TestService } from '../support/service';
import type { SmtpSink } from '../support/smtp-sink';

/**
 * A recording with no speech (silence, noise) gets its sentence and its `_result.json`, never an empty
 * `.srt` or `.txt`: Telegram refuses empty uploads with a 400, and before this the reply was dropped as
 * permanent and the order's other files never arrived. All three channels, one real service and worker.
 */

const SERVICE = 'transcripts@example.test';
const SPOKEN = 'Please send the quarterly report to the finance team before Friday.';

describe('recordings without speech, on every channel', () => {
  let dir: string;
  let telegram: FakeTelegram;
  let discord: FakeDiscord;
  let dovecot: TestDovecot;
  let sink: SmtpSink;
  let channels: AllChannels;
  let svc: TestService;
  let silence: Buffer;
  let noise: Buffer;
  let speech: Buffer;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'no-speech-'));
    const make = async (name: string, source: string) => readFile(await generatedVoiceNote(dir, name, source, 6));
    [silence, noise, speech] = await Promise.all([
      make('silence.ogg', 'anullsrc=r=16000:cl=mono'),
      make('noise.ogg', 'anoisesrc=r=16000:a=0.3:c=pink'),
      spokenFile(dir, 'memo.ogg', SPOKEN).then((p) => readFile(p)),
    ]);
    channels = await startAllChannels(SERVICE);
    ({ telegram, discord, dovecot, sink } = channels);
    svc = await startTestService({
      env: {
        NEW_USER_FREE_SECONDS: '120',
        ...channels.env,
      },
    });
  });
  afterAll(async () => {
    await svc?.stop();
    await channels?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const noSpeechResult = (content: Buffer) => {
    const result = JSON.parse(content.toString()) as TranscriptResult;
    expect(result).toMatchObject({ noSpeech: true, text: '', segments: [] });
  };

  it('Telegram: silence and noise each get "no speech" and the result JSON, and the order is delivered', async () => {
    for (const [user, bytes, name] of [
      [2001, silence, 'silence'],
      [2002, noise, 'noise'],
    ] as const) {
      const file = telegram.addFile(bytes, `voice/${name}.oga`);
      const message = telegram.message(
        { voice: { file_id: file.file_id, file_unique_id: file.file_unique_id, duration: 6, mime_type: 'audio/ogg' } },
        { id: user },
      );
      telegram.pushUpdate({ message });
      const order = await svc.waitForOrder((o) => o.senderId === String(user) && (o.state === 'delivered' || o.state === 'failed'));
      expect(order.state).toBe('delivered');
      const replies = await telegram.waitFor(() => {
        const sent = telegram.sent.filter((m) => m.reply_to === message.message_id);
        return sent.some((m) => m.method === 'sendDocument') && sent;
      }, 60_000);
      const texts = replies.map((m) => m.edits.at(-1)?.text ?? m.text ?? '').join('\n');
      expect(texts).toContain('voice.ogg: I heard no speech in this recording.');
      const documents = replies.filter((m) => m.method === 'sendDocument').map((m) => m.document!);
      expect(documents.map((d) => d.filename)).toEqual(['voice_result.json']);
      noSpeechResult(documents[0].content);
    }
    // No upload was refused on the way (the fake answers an empty one with 400, as Telegram does).
    expect(telegram.calls.filter((c) => c.method === 'sendDocument' && Object.values(c.files).some((f) => f.content.length === 0))).toEqual(
      [],
    );
  });

  it('Discord: a DM with silence and noise gets both sentences and two result files, none empty', async () => {
    const user: FakeUser = { id: '300000000000000201', username: 'quiet' };
    const messageId = discord.dm(user, {
      attachments: [discord.addAttachment(silence, 'silence.ogg', 'audio/ogg'), discord.addAttachment(noise, 'noise.ogg', 'audio/ogg')],
    });
    const transcript = await discord.waitFor(() => discord.repliesTo(messageId).find((m) => m.files.length > 0), 120_000);
    expect(transcript.content).toContain('silence.ogg: I heard no speech in this recording.');
    expect(transcript.content).toContain('noise.ogg: I heard no speech in this recording.');
    expect(transcript.files.map((f) => f.name).sort()).toEqual(['noise_result.json', 'silence_result.json']);
    for (const f of transcript.files) noSpeechResult(f.content);
    expect(svc.orders().find((o) => o.senderId === user.id)!.state).toBe('delivered');
  });

  it('email: silence beside speech in one mail: the speech gets its .srt, the silence its sentence, nothing empty attached', async () => {
    await dovecot.append(
      await buildMail({
        from: 'Quinn <quinn@quiet.test>',
        to: SERVICE,
        subject: 'Two recordings',
        messageId: '<two@quiet.test>',
        text: 'Please transcribe.',
        attachments: [
          { filename: 'silence.ogg', content: silence, contentType: 'audio/ogg' },
          { filename: 'memo.ogg', content: speech, contentType: 'audio/ogg' },
        ],
      }),
    );
    const done = await sink.waitForMail(
      (m) => m.parsed.inReplyTo === '<two@quiet.test>' && m.parsed.attachments.some((a) => a.filename?.endsWith('_result.json')),
    );
    expect(done.parsed.text).toContain('silence.ogg: I heard no speech in this recording.');
    expect(done.parsed.text?.toLowerCase()).toContain('quarterly');
    const attached = done.parsed.attachments;
    expect(attached.map((a) => a.filename).sort()).toEqual(['memo.srt', 'memo_result.json', 'silence_result.json']);
    for (const a of attached) expect(a.content.length).toBeGreaterThan(0);
    noSpeechResult(attached.find((a) => a.filename === 'silence_result.json')!.content);
  });
});
