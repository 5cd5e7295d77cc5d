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
import { FakeDiscord, type FakeAttachment, type FakeUser, type SentMessage } from '../../../test/support/fake-discord';
import { startTestService, type TestService } from '../../../test/support/service';

/**
 * The bad-input corpus through the Discord bot, built from the environment as `npm start` builds it: every
 * malformed or odd attachment gets one clear line naming it, what is not audio costs nothing, nothing empty is
 * posted, and the service still transcribes a real recording afterwards.
 */

const FREE = 120;

/** An account made in 2015: old enough for the free seconds. */
const user = (n: number): FakeUser => ({ id: String(300_000_000_000_100_000n + BigInt(n)), username: `corpus${n}` });

describe('Discord: the bad-input corpus', () => {
  let dir: string;
  let discord: FakeDiscord;
  let svc: TestService;
  let refused: BadInput[];
  let audio: BadInput[];

  beforeAll(async () => {
    ({ dir, refused, audio } = await makeCorpus('discord-corpus-'));
    discord = await new FakeDiscord().start();
    svc = await startTestService({
      env: { DISCORD_BOT_TOKEN: discord.token, DISCORD_API_ROOT: discord.apiRoot, ...corpusEnv(FREE) },
    });
  }, 120_000);
  afterAll(async () => {
    await svc?.stop();
    await discord?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const current = (m: SentMessage): string => m.edits.at(-1)?.content ?? m.content;

  /** Discord always announces an attachment's size: the real one, unless the case makes it lie. */
  const attachment = (input: BadInput): FakeAttachment =>
    discord.addAttachment(
      input.content,
      input.name,
      input.mimeType,
      input.declaredSize === undefined || input.declaredSize === -1 ? input.content.length : input.declaredSize,
    );

  it('answers each refused attachment with one line naming it and the reason, and charges nothing', async () => {
    // One user per input: each message is its own order, and the per-user message limit stays out of the way.
    const sent = refused.map((input, i) => ({
      input,
      from: user(i),
      messageId: discord.dm(user(i), { attachments: [attachment(input)] }),
    }));
    const problems: string[] = [];
    for (const { input, from, messageId } of sent) {
      const reply = await discord.waitFor(() => discord.repliesTo(messageId)[0], 60_000).catch(() => undefined);
      if (!reply) {
        problems.push(`${input.label}: no reply`);
        continue;
      }
      const problem = checkRefusal(current(reply), input);
      if (problem) problems.push(problem);
      if (discord.repliesTo(messageId).length !== 1) problems.push(`${input.label}: ${discord.repliesTo(messageId).length} replies`);
      if (svc.balance('discord', from.id) !== FREE) problems.push(`${input.label}: balance changed`);
    }
    expect(problems).toEqual([]);
    expect(refused.length + audio.length).toBeGreaterThanOrEqual(50);
  }, 300_000);

  it('takes real audio in any odd shape from one message, and names each file past the per-message limit', async () => {
    const extras = refused.filter((i) => i.name === 'random.mp3' || i.name === 'photo.png' || i.name === 'image.mp3');
    const files = [...audio, ...extras];
    expect(files.length).toBeGreaterThan(CORPUS_LIMITS.maxFilesPerMessage);
    const from = user(900);
    const messageId = discord.dm(from, { attachments: files.map(attachment) });

    const order = await svc.waitForOrder((o) => o.senderId === from.id && (o.state === 'delivered' || o.state === 'failed'), 180_000);
    expect(order.state).toBe('delivered');
    const replies = await discord.waitFor(() => {
      const all = discord.repliesTo(messageId);
      return all.some((m) => m.files.length > 0) && all;
    }, 60_000);
    const status = current(replies[0]!);
    expectFilesUpToLimit(status, files);
    // Silence, noise and the rest were charged for what they hold, nothing more.
    expect(svc.balance('discord', from.id)).toBe(FREE - order.seconds);
    expect(replies.map(current).join('\n')).toMatch(/silence\.ogg: I heard no speech/);
  }, 300_000);

  it('posts nothing empty and stays up: health answers and a real recording is transcribed', async () => {
    const voice = await readFile(await spokenFile(dir, 'check.ogg', CHECK_SENTENCE));
    const messageId = discord.dm(user(901), { attachments: [discord.addAttachment(voice, 'check.ogg', 'audio/ogg')] });
    const transcript = await discord.waitFor(() => discord.repliesTo(messageId).find((m) => m.files.length >= 2), 120_000);
    const json = transcript.files.find((f) => f.name.endsWith('_result.json'))!.content.toString();
    expect((JSON.parse(json) as { text: string }).text.toLowerCase()).toContain('quarterly');

    const health = await fetch(`${svc.url}/healthz`);
    expect(health.status).toBe(200);
    expect(discord.emptyRefused).toBe(0);
    for (const m of discord.sent) {
      for (const file of m.files) expect(file.content.length, file.name).toBeGreaterThan(0);
      if (m.files.length === 0) expect(current(m).trim()).not.toBe('');
    }
  }, 180_000);
});
