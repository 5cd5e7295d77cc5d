import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TranscriptResult } from '../../../src/domain/transcript';
import { spokenFile } from '../../../test/support/audio';
import { FakeDiscord, type FakeUser, type SentMessage } from '../../../test/support/fake-discord';
import { startTestService, type TestService } from '../../../test/support/service';

/**
 * The Discord bot end to end, built from the environment as `npm start` builds it: discord.js against a
 * loopback Discord (REST, gateway, CDN), the real service core and the real Whisper worker.
 */

const SPOKEN = 'Please send the quarterly report to the finance team before Friday.';

describe('Discord bot end to end', () => {
  let dir: string;
  let discord: FakeDiscord;
  let svc: TestService;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'discord-e2e-'));
    discord = await new FakeDiscord().start();
    svc = await startTestService({
      env: { DISCORD_BOT_TOKEN: discord.token, DISCORD_API_ROOT: discord.apiRoot, NEW_USER_FREE_SECONDS: '60' },
    });
  });
  afterAll(async () => {
    await svc?.stop();
    await discord?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const current = (m: SentMessage): string => m.edits.at(-1)?.content ?? m.content;

  it('a DM with spoken audio comes back as a reply with its transcript and both files', async () => {
    const user: FakeUser = { id: '300000000000000101', username: 'ada' };
    const audio = await readFile(await spokenFile(dir, 'voice-message.ogg', SPOKEN));
    const messageId = discord.dm(user, { attachments: [discord.addAttachment(audio, 'voice-message.ogg', 'audio/ogg')] });

    const transcript = await discord.waitFor(() => discord.repliesTo(messageId).find((m) => m.files.length >= 2), 120_000);
    const [status] = discord.repliesTo(messageId);
    expect(status.content).toMatch(/• voice-message\.ogg \(0:0\d\)/);
    expect(status.components).toEqual([]);
    // The status message moves on once the transcript is out.
    await discord.waitFor(() => current(status).includes('Done'), 60_000);
    expect(current(status)).not.toBe(status.content);

    expect(transcript.content.toLowerCase()).toContain('quarterly');
    expect(transcript.files.map((f) => f.name).sort()).toEqual(['voice-message.srt', 'voice-message_result.json']);
    const result = JSON.parse(transcript.files.find((f) => f.name === 'voice-message_result.json')!.content.toString()) as TranscriptResult;
    expect(result).toMatchObject({ version: 1, file: 'voice-message.ogg', language: 'en' });
    for (const word of ['quarterly', 'report', 'finance', 'friday']) expect(result.text.toLowerCase()).toContain(word);
    expect(transcript.files.find((f) => f.name === 'voice-message.srt')!.content.toString()).toMatch(/^1\n00:00:0\d,\d{3} --> /);

    const [order] = svc.orders().filter((o) => o.senderId === user.id);
    expect(order.state).toBe('delivered');
    expect(order.channel).toBe('discord');
    expect(svc.balance('discord', user.id)).toBe(60 - Math.ceil(result.duration));
  });

  it('/language de is refused on the English-only model, /help says so, and /format vtt brings a .vtt with real cues', async () => {
    const user: FakeUser = { id: '300000000000000104', username: 'fay' };
    const answer = async (name: string, options: { name: string; value: string }[] = []) => {
      const interactionId = discord.slashCommand(user, name, options);
      return (await discord.waitFor(() => discord.sent.find((m) => m.interactionId === interactionId), 30_000)).content;
    };
    expect(await answer('language', [{ name: 'code', value: 'de' }])).toContain(
      "I can't transcribe German: this service runs the English-only model tiny.en",
    );
    expect(await answer('help')).toContain('English-only model tiny.en');
    expect(await answer('format', [{ name: 'formats', value: 'vtt' }])).toBe('Your next transcripts come with these files: vtt.');

    const audio = await readFile(await spokenFile(dir, 'note.ogg', SPOKEN));
    const messageId = discord.dm(user, { attachments: [discord.addAttachment(audio, 'note.ogg', 'audio/ogg')] });
    const transcript = await discord.waitFor(() => discord.repliesTo(messageId).find((m) => m.files.length >= 1), 120_000);
    expect(transcript.files.map((f) => f.name)).toEqual(['note.vtt']);
    expect(transcript.files[0].content.toString()).toMatch(/^WEBVTT\n\n00:00:0\d\.\d{3} --> 00:00:0\d\.\d{3}\n.*quarterly/i);
    expect(transcript.content).toContain('Language: English.');
  });

  it('/balance is answered in place of the slash command', async () => {
    const user: FakeUser = { id: '300000000000000102', username: 'bob' };
    const interactionId = discord.slashCommand(user, 'balance');
    const answer = await discord.waitFor(() => discord.sent.find((m) => m.interactionId === interactionId), 30_000);
    expect(answer).toMatchObject({ via: 'interaction', content: 'You have 1 min of transcription left.' });
  });

  it('a server message that mentions the bot without a recording gets the help; one without a mention gets nothing', async () => {
    const user: FakeUser = { id: '300000000000000103', username: 'eve' };
    const ignored = discord.guildMessage(user, { content: 'hello everyone' });
    const asked = discord.guildMessage(user, { content: 'what do you do?', mention: true });
    const [help] = await discord.waitFor(() => discord.repliesTo(asked).length > 0 && discord.repliesTo(asked), 30_000);
    expect(help.content).toContain('Please send an audio or video file');
    expect(help.channelId).toBe(discord.guild.channelId);
    expect(discord.repliesTo(ignored)).toEqual([]);
  });
});
