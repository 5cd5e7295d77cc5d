import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TranscriptResult } from '../../src/domain/transcript';
import { resultKey } from '../../src/ports/runner';
import { spokenFile } from '../support/audio';
import { startTestService, type TestService } from '../support/service';
import { TestChannel } from '../support/test-channel';

const SENTENCE = 'Please send the quarterly report to the finance team before Friday.';

describe('free path with the real worker', () => {
  let dir: string;
  let voice: string;
  let channel: TestChannel;
  let svc: TestService;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'free-path-'));
    voice = await spokenFile(dir, 'voice.ogg', SENTENCE);
    channel = new TestChannel();
    svc = await startTestService({ channels: [channel] });
  });
  afterAll(async () => {
    await svc?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('answers with the duration, transcribes, sends the text and both files, and charges the seconds', async () => {
    await channel.receive(channel.message('alice', [voice]));

    const quote = await channel.waitForReply((r) => r.kind === 'quote');
    expect(quote.text).toMatch(/• voice\.ogg \(0:0\d\)/);
    expect(quote.text).toContain('Transcribing now');

    const transcript = await channel.waitForReply((r) => r.kind === 'transcript');
    const words = transcript.text.toLowerCase();
    for (const word of ['quarterly', 'report', 'finance', 'friday']) expect(words).toContain(word);
    expect(transcript.files!.map((f) => f.name).sort()).toEqual(['voice.srt', 'voice_result.json']);

    const result = JSON.parse(transcript.files!.find((f) => f.name === 'voice_result.json')!.content.toString()) as TranscriptResult;
    expect(result).toMatchObject({ version: 1, file: 'voice.ogg', model: 'tiny.en', language: 'en' });
    expect(result.segments.length).toBeGreaterThan(0);
    for (const s of result.segments) expect(s.end).toBeGreaterThanOrEqual(s.start);
    expect(result.segments.at(-1)!.end).toBeLessThanOrEqual(result.duration + 0.5);
    expect(transcript.files!.find((f) => f.name === 'voice.srt')!.content.toString()).toMatch(/^1\n00:00:0\d,\d{3} --> 00:00:\d\d,\d{3}\n/);

    const [order] = svc.orders();
    expect(order.state).toBe('delivered');
    expect(svc.balance('test', 'alice')).toBe(600 - Math.ceil(result.duration));
    expect(transcript.balanceSeconds).toBe(svc.balance('test', 'alice'));

    // The audio is gone once the transcript is out; the result stays.
    const file = svc.service.store;
    const key = `orders/${order.id}/0`;
    await channel.waitForReply(() => true);
    await expect.poll(() => file.exists(key), { timeout: 60_000 }).toBe(false);
    expect(await file.exists(resultKey(key))).toBe(true);
  });

  it('gives the text as a preview plus NAME.txt when it does not fit the platform', async () => {
    channel.textLimit = 60;
    try {
      await channel.receive(channel.message('bob', [voice]));
      const transcript = await channel.waitForReply((r, to) => r.kind === 'transcript' && to.chatId === 'bob');
      expect(transcript.text.length).toBeLessThanOrEqual(60);
      expect(transcript.text).toContain('attached .txt');
      const txt = transcript.files!.find((f) => f.name === 'voice.txt');
      expect(txt?.content.toString().toLowerCase()).toContain('finance');
    } finally {
      channel.textLimit = 4096;
    }
  });

  it('refuses a file that is not audio with one sentence and charges nothing', async () => {
    const notes = join(dir, 'notes.txt');
    await writeFile(notes, 'this is not audio at all\n'.repeat(100));
    await channel.receive(channel.message('carol', [notes]));
    const reply = await channel.waitForReply((r, to) => to.chatId === 'carol');
    expect(reply.text).toContain('notes.txt: not an audio or video file');
    expect(reply.text).toContain('Nothing was charged');
    expect(svc.balance('test', 'carol')).toBe(600);
    expect(svc.orders().find((o) => o.senderId === 'carol')!.state).toBe('rejected');
    expect(existsSync(join(svc.dataDir, 'blobs/orders'))).toBe(true);
  });
});
