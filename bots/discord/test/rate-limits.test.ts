/**
 * Discord's REST buckets, verified: discord.js (the REST client the adapter uses) reads the `X-RateLimit-*`
 * headers and waits for the bucket instead of running into 429s, against the loopback Discord server
 * enforcing the per-channel message bucket (5 posts per 5 s).
 */
import { REST, Routes } from 'discord.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeDiscord } from '../../../test/support/fake-discord';

let discord: FakeDiscord;

beforeAll(async () => {
  discord = await new FakeDiscord().start();
  discord.messageBucket = { limit: 5, windowMs: 5000 };
});
afterAll(async () => {
  await discord?.stop();
});

describe('Discord REST buckets', () => {
  it('12 replies to one channel at once all arrive, at most 5 in any 5 s, with at most one 429', async () => {
    const rest = new REST({ api: discord.apiRoot, version: '10' }).setToken(discord.token);
    const channelId = discord.guild.channelId;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 12 }, (_, n) => rest.post(Routes.channelMessages(channelId), { body: { content: `reply ${n}` } })),
    );
    expect(discord.sent.filter((m) => m.channelId === channelId && /^reply \d+$/.test(m.content ?? ''))).toHaveLength(12);
    const times = discord.rateLimited.log.filter((p) => p.channelId === channelId).map((p) => p.at);
    expect(times).toHaveLength(12);
    for (const t of times) expect(times.filter((u) => u >= t && u < t + 5000).length).toBeLessThanOrEqual(5);
    // Twelve posts through a bucket of 5 per 5 s take two refills.
    expect(Date.now() - started).toBeGreaterThanOrEqual(9000);
    expect(discord.rateLimited.refused).toBeLessThanOrEqual(1);
  });
});
