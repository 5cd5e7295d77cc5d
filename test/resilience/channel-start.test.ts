import { afterEach, describe, expect, it } from 'vitest';
import { FakeDiscord, type FakeUser } from '../support/fake-discord';
import { FakeTelegram } from '../support/fake-telegram';
import { startTestService, type TestService } from '../support/service';
import { freePort } from '../support/ports';
import { ScriptedRunner } from '../support/runners';

/**
 * A channel that cannot start (platform unreachable, token revoked, mail server down) does not stop the
 * service or the other channels: it is retried in the background, and `/healthz` says where each stands.
 */

interface Health {
  status: string;
  channels: Record<string, string>;
}

describe('channels that cannot start', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const close of cleanup.splice(0).reverse()) await close();
  });

  const health = async (svc: TestService): Promise<{ code: number; body: Health }> => {
    const response = await fetch(`${svc.url}/healthz`);
    return { code: response.status, body: (await response.json()) as Health };
  };
  const until = async <T>(check: () => Promise<T | false>, timeoutMs = 60_000): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await check();
      if (value !== false) return value;
      if (Date.now() > deadline) throw new Error('condition not met in time');
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  /** Discord's loopback server, started, and Telegram's, started unless the test starts it later; both stopped after the test. */
  const platforms = async (telegramLater = false) => {
    const telegram = new FakeTelegram();
    if (!telegramLater) await telegram.start();
    const discord = await new FakeDiscord().start();
    cleanup.push(
      () => discord.stop(),
      () => telegram.stop(),
    );
    return { telegram, discord };
  };
  /** The service on `env`, transcribing nothing real, retrying a channel's start every 200 ms up to `maxDelayMs`. */
  const service = async (env: Record<string, string>, maxDelayMs: number) => {
    const svc = await startTestService({ runner: new ScriptedRunner(), channelRetry: { minDelayMs: 200, maxDelayMs }, env });
    cleanup.push(() => svc.stop());
    return svc;
  };
  /** Asks the Telegram bot `/balance` as user `id`; its answer's text. */
  const telegramBalance = async (telegram: FakeTelegram, id: number) => {
    const message = telegram.message({ text: '/balance' }, { id });
    telegram.pushUpdate({ message });
    const reply = await telegram.waitFor(() => telegram.sent.find((m) => m.reply_to === message.message_id), 30_000);
    return reply.text;
  };

  it('Telegram unreachable and IMAP down at start: the service and Discord work; Telegram comes up once its server does', async () => {
    const telegramPort = await freePort();
    const imapPort = await freePort();
    const { telegram, discord } = await platforms(true);
    const svc = await service(
      {
        TELEGRAM_BOT_TOKEN: telegram.token,
        TELEGRAM_API_ROOT: `http://127.0.0.1:${telegramPort}`,
        DISCORD_BOT_TOKEN: discord.token,
        DISCORD_API_ROOT: discord.apiRoot,
        IMAP_HOST: '127.0.0.1',
        IMAP_PORT: String(imapPort),
        IMAP_SECURE: 'false',
        IMAP_USER: 'service@example.test',
        IMAP_PASSWORD: 'secret',
        SMTP_HOST: '127.0.0.1',
        SMTP_PORT: String(imapPort),
        SMTP_SECURE: 'false',
        MAIL_SENDER_AUTH: 'none',
      },
      1_000,
    );

    const down = await health(svc);
    expect(down).toEqual({ code: 200, body: { status: 'ok', channels: { telegram: 'down', email: 'down', discord: 'up' } } });

    // Discord answers meanwhile.
    const user: FakeUser = { id: '300000000000000301', username: 'meanwhile' };
    const interactionId = discord.slashCommand(user, 'balance');
    const answer = await discord.waitFor(() => discord.sent.find((m) => m.interactionId === interactionId), 30_000);
    expect(answer.content).toBe('You have 10 min of transcription left.');

    // Telegram's server comes back where it was; the channel starts without a restart and takes messages.
    await telegram.start(telegramPort);
    await until(async () => (await health(svc)).body.channels.telegram === 'up');
    expect(await telegramBalance(telegram, 3001)).toBe('You have 10 min of transcription left.');
    expect((await health(svc)).body.channels).toEqual({ telegram: 'up', email: 'down', discord: 'up' });
  });

  it('a revoked Discord token: Discord is reported down and retried, Telegram works, the service answers', async () => {
    const { telegram, discord } = await platforms();
    const svc = await service(
      {
        TELEGRAM_BOT_TOKEN: telegram.token,
        TELEGRAM_API_ROOT: telegram.url,
        DISCORD_BOT_TOKEN: 'ODk5.revoked.bot-token',
        DISCORD_API_ROOT: discord.apiRoot,
      },
      400,
    );

    expect(await health(svc)).toEqual({ code: 200, body: { status: 'ok', channels: { telegram: 'up', discord: 'down' } } });
    expect(await telegramBalance(telegram, 3002)).toBe('You have 10 min of transcription left.');
    // Still down a while later: retried, never up with a bad token, and the service is still up.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await health(svc)).toEqual({ code: 200, body: { status: 'ok', channels: { telegram: 'up', discord: 'down' } } });
  });
});
