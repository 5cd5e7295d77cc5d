import { Readable } from 'node:stream';
import MailComposer from 'nodemailer/lib/mail-composer';
import { describe, expect, it } from 'vitest';
import { toIncoming as discordMessage } from '../../bots/discord/message';
import { toIncoming as telegramMessage } from '../../bots/telegram/message';
import { parseBody } from '../../mail/download';
import { isMediaFile } from '../../src/media/media-types';

const noFile = async (): Promise<Readable> => Readable.from([]);

/** The names of the attachments each channel takes in from one file sent with `type` (undefined: no type). */
async function takenBy(name: string, type: string | undefined) {
  const telegram = telegramMessage(
    [
      {
        message_id: 1,
        chat: { id: 7, type: 'private' },
        from: { id: 7, is_bot: false, first_name: 'Ann' },
        document: { file_id: 'f', file_name: name, mime_type: type },
      },
    ],
    'bot',
    noFile,
  );
  const discord = discordMessage(
    {
      id: '1',
      channelId: 'c',
      author: { id: 'u', bot: false, username: 'ann' },
      system: false,
      content: '',
      mentions: [],
      attachments: [{ id: 'a', name, size: 3, url: 'https://cdn.test/a', contentType: type }],
    },
    'bot',
    noFile,
  );
  const raw = await new MailComposer({
    from: 'ann@ann.test',
    to: 'svc@svc.test',
    subject: 'file',
    text: 'here',
    attachments: [{ filename: name, content: Buffer.from('abc'), ...(type ? { contentType: type } : { contentType: '' }) }],
  })
    .compile()
    .build();
  const body = await parseBody(Readable.from([raw]), { maxFileBytes: 1024 });
  await body.cleanup();
  return {
    telegram: telegram?.attachments.map((a) => a.name) ?? [],
    discord: discord?.attachments.map((a) => a.name) ?? [],
    email: body.attachments.map((a) => a.name),
  };
}

describe('one list of media types for every channel', () => {
  it('takes an audiobook or an AIFF recording sent without a type on every channel alike', async () => {
    for (const name of ['book.m4b', 'take.aiff', 'memo.caf']) {
      expect(await takenBy(name, 'application/octet-stream')).toEqual({ telegram: [name], discord: [name], email: [name] });
    }
    expect(await takenBy('book.m4b', undefined)).toMatchObject({ telegram: ['book.m4b'], discord: ['book.m4b'] });
  });

  it('hands documents on from every channel alike, so intake names each one it refuses', async () => {
    expect(await takenBy('cv.pdf', 'application/pdf')).toEqual({ telegram: ['cv.pdf'], discord: ['cv.pdf'], email: ['cv.pdf'] });
    expect(await takenBy('notes.ts', 'text/plain')).toEqual({ telegram: ['notes.ts'], discord: ['notes.ts'], email: ['notes.ts'] });
    // Intake believes a declared non-media type over the name, so a `notes.ts` is not mistaken for a video stream.
    expect(isMediaFile('text/plain', 'notes.ts')).toBe(false);
  });

  it('goes by the declared type first, parameters and case aside', () => {
    expect(isMediaFile('Audio/OGG; codecs=opus', 'x.bin')).toBe(true);
    expect(isMediaFile('video/quicktime', undefined)).toBe(true);
    expect(isMediaFile('application/ogg', 'x')).toBe(true);
    expect(isMediaFile('', 'VOICE.OPUS')).toBe(true);
    expect(isMediaFile(null, 'README')).toBe(false);
    expect(isMediaFile('image/jpeg', 'photo.mp4')).toBe(false);
  });
});
