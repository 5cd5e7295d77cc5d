import { startDovecot, type TestDovecot } from './dovecot';
import { FakeDiscord } from './fake-discord';
import { FakeTelegram } from './fake-telegram';
import { mailEnv } from './mail-env';
import { startSmtpSink, type SmtpSink } from './smtp-sink';

/** The loopback servers of all three channels, for a test that runs one service on every channel at once. */
export interface AllChannels {
  telegram: FakeTelegram;
  discord: FakeDiscord;
  dovecot: TestDovecot;
  sink: SmtpSink;
  /** The service's environment for the three, email trusting `From` (`MAIL_SENDER_AUTH=none`). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** Starts a Bot API server, a Discord server, dovecot with `address` as the service's mailbox, and an SMTP sink. */
export async function startAllChannels(address: string): Promise<AllChannels> {
  const [telegram, discord, dovecot, sink] = await Promise.all([
    new FakeTelegram().start(),
    new FakeDiscord().start(),
    startDovecot({ user: address }),
    startSmtpSink(),
  ]);
  return {
    telegram,
    discord,
    dovecot,
    sink,
    env: {
      TELEGRAM_BOT_TOKEN: telegram.token,
      TELEGRAM_API_ROOT: telegram.url,
      DISCORD_BOT_TOKEN: discord.token,
      DISCORD_API_ROOT: discord.apiRoot,
      ...mailEnv(dovecot, sink, address),
      MAIL_SENDER_AUTH: 'none',
    },
    async stop() {
      await Promise.all([telegram.stop(), discord.stop(), dovecot.close(), sink.close()]);
    },
  };
}
