import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isEnglishOnlyModel, modelName } from '../../src/domain/models';
import { spokenFile } from '../support/audio';
import { ScriptedRunner } from '../support/runners';
import { startTestService, type TestService } from '../support/service';
import { TestChannel } from '../support/test-channel';

/** Language, translation and file choices through the core, on the English-only model `npm ci` prepares and on a multilingual one's name. */

let dir: string;
let voice: string;
let svc: TestService | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'choices-'));
  voice = await spokenFile(dir, 'memo.ogg', 'The meeting moved to Thursday afternoon at three.');
});
afterEach(async () => {
  await svc?.stop();
  svc = undefined;
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const start = async (env: Record<string, string> = {}, runner?: ScriptedRunner) => {
  const channel = new TestChannel();
  svc = await startTestService({ env, channels: [channel], runner });
  return { channel, svc };
};

/** Sends the commands one by one and returns their answers in order. */
async function ask(channel: TestChannel, sender: string, commands: [string, string?][]): Promise<string[]> {
  for (const [name, args] of commands) await channel.receive(channel.command(sender, name, args));
  await channel.waitForReply(() => channel.repliesTo(sender, 'command').length >= commands.length);
  return channel.repliesTo(sender, 'command').map((r) => r.text);
}

describe('model names', () => {
  it('tells English-only models from multilingual ones', () => {
    for (const name of ['ggml-tiny.en.bin', '/models/ggml-base.en-q5_1.bin', 'small.en', 'ggml-medium.en-q8_0.bin'])
      expect(isEnglishOnlyModel(name), name).toBe(true);
    for (const name of ['ggml-tiny.bin', 'ggml-large-v3-turbo-q5_0.bin', 'large-v3', '/models.en/ggml-base.bin'])
      expect(isEnglishOnlyModel(name), name).toBe(false);
    expect(modelName('/data/models/ggml-tiny.en.bin')).toBe('tiny.en');
  });
});

describe('on the English-only model', () => {
  it('refuses another language and translation, says so in /help, and keeps transcribing English', async () => {
    const runner = new ScriptedRunner('pending');
    const { channel } = await start({}, runner);
    const [german, translate, auto, english, nonsense, help] = await ask(channel, 'ana', [
      ['language', 'de'],
      ['translate', 'on'],
      ['language', 'auto'],
      ['language', 'en'],
      ['language', 'xx'],
      ['help'],
    ]);
    expect(german).toContain("I can't transcribe German");
    expect(german).toContain('English-only model tiny.en');
    expect(translate).toContain("I can't translate");
    expect(auto).toContain('as English');
    expect(auto).toContain('English-only model tiny.en');
    expect(english).toContain('English ("en")');
    expect(nonsense).toContain('language code such as en, de or es');
    expect(help).toContain('/format');
    expect(help).toContain('/translate on|off');
    expect(help).toContain('English-only model tiny.en');

    await channel.receive(channel.message('ana', [voice]));
    await channel.waitForReply(() => runner.submitted.length > 0);
    expect(runner.submitted[0].options).toEqual({ language: 'auto' });
  });
});

describe('on a multilingual model', () => {
  it('the job carries the language and translation the user chose; /translate off and /language auto undo them', async () => {
    const runner = new ScriptedRunner('pending');
    // A multilingual model's name: the scripted runner never loads it.
    const { channel } = await start({ WHISPER_MODEL: join(dir, 'ggml-base.bin') }, runner);
    const [german, translate, bad] = await ask(channel, 'ben', [
      ['language', 'de'],
      ['translate', 'on'],
      ['translate', 'maybe'],
    ]);
    expect(german).toBe('I will transcribe your next recordings as German ("de").');
    expect(translate).toBe('I will translate your next recordings into English.');
    expect(bad).toBe('Use /translate on or /translate off.');
    const [help] = await ask(channel, 'cai', [['help']]);
    expect(help).not.toContain('English-only');

    await channel.receive(channel.message('ben', [voice]));
    await channel.waitForReply(() => runner.submitted.length === 1);
    expect(runner.submitted[0].options).toEqual({ language: 'de', translate: true });

    await ask(channel, 'ben', [
      ['translate', 'off'],
      ['language', 'auto'],
    ]);
    await channel.receive(channel.message('ben', [voice]));
    await channel.waitForReply(() => runner.submitted.length === 2);
    expect(runner.submitted[1].options).toEqual({ language: 'auto' });
  });
});

describe('/format', () => {
  it('refuses unknown formats and changes nothing', async () => {
    const { channel } = await start();
    const [bad, shown] = await ask(channel, 'dee', [['format', 'docx'], ['format']]);
    expect(bad).toContain('one or more of txt, srt, vtt and json');
    expect(shown).toBe('Your next transcripts come with these files: json, srt.');
  });

  it('is kept across a restart, and the transcript then comes with exactly the chosen files: a .vtt with real cues and the .txt', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'choices-data-'));
    try {
      const first = await start({ DATA_DIR: dataDir });
      const [set] = await ask(first.channel, 'eve', [['format', '.vtt, txt']]);
      expect(set).toBe('Your next transcripts come with these files: txt, vtt.');
      await first.svc.stop();
      svc = undefined;

      const { channel } = await start({ DATA_DIR: dataDir });
      await channel.receive(channel.message('eve', [voice]));
      const reply = await channel.waitForReply((r) => r.kind === 'transcript', 180_000);
      expect(reply.text.toLowerCase()).toContain('thursday');
      expect(reply.text).toMatch(/\n\nLanguage: English\.$/);
      expect(reply.files!.map((f) => f.name).sort()).toEqual(['memo.txt', 'memo.vtt']);
      const vtt = reply.files!.find((f) => f.name === 'memo.vtt')!;
      expect(vtt.contentType).toBe('text/vtt; charset=utf-8');
      expect(vtt.content.toString()).toMatch(/^WEBVTT\n\n00:00:0\d\.\d{3} --> 00:00:0\d\.\d{3}\n.*thursday/i);
      expect(
        reply
          .files!.find((f) => f.name === 'memo.txt')!
          .content.toString()
          .toLowerCase(),
      ).toContain('thursday');
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
