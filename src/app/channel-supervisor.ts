import type { Logger } from '../log';
import type { Channel, ChannelName, MessageHandler } from '../ports/channel';
import { backoff } from '../retry/backoff';
import { scrubbedMessage } from '../secrets';

/** What `/healthz` says of a channel: taking messages, on its first try, or failing and retrying. */
export type ChannelState = 'up' | 'starting' | 'down';

export interface SupervisorOptions {
  log: Logger;
  /** First wait after a failed start; doubles per failure up to `maxDelayMs`. */
  minDelayMs?: number;
  maxDelayMs?: number;
}

interface Supervised {
  channel: Channel;
  state: ChannelState;
  failures: number;
  timer?: NodeJS.Timeout;
  attempt?: Promise<void>;
}

/**
 * Starts each channel apart from the others and keeps retrying, with back-off, one that cannot start
 * (platform unreachable, token revoked, mail server down): one channel's outage never stops the service
 * or the other channels, and the service need not be restarted once the platform is back.
 */
export class ChannelSupervisor {
  private readonly supervised: Supervised[];
  private stopping = false;

  constructor(
    channels: Channel[],
    private readonly options: SupervisorOptions,
  ) {
    this.supervised = channels.map((channel) => ({ channel, state: 'starting', failures: 0 }));
  }

  /** Starts every channel; resolves once each has made its first attempt, whether it came up or not. */
  async start(onMessage: MessageHandler): Promise<void> {
    await Promise.all(this.supervised.map((s) => (s.attempt = this.attempt(s, onMessage))));
  }

  /** Each channel's state; a channel that reports its own connection (the mailbox) is down while that is lost. */
  states(): Partial<Record<ChannelName, ChannelState>> {
    return Object.fromEntries(
      this.supervised.map(({ channel, state }) => [channel.name, state === 'up' && channel.connected?.() === false ? 'down' : state]),
    );
  }

  /** Stops retrying, lets a start in progress finish, then stops every channel. */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const s of this.supervised) clearTimeout(s.timer);
    await Promise.all(this.supervised.map((s) => s.attempt ?? Promise.resolve()));
    for (const { channel } of this.supervised) {
      await channel.stop().catch((error: unknown) => this.options.log.warn({ err: error, channel: channel.name }, 'channel stop failed'));
    }
  }

  private async attempt(s: Supervised, onMessage: MessageHandler): Promise<void> {
    const { log } = this.options;
    try {
      await s.channel.start(onMessage);
      s.state = 'up';
      if (s.failures > 0) log.info({ channel: s.channel.name, failures: s.failures }, 'channel started after failing');
      s.failures = 0;
    } catch (error) {
      s.failures += 1;
      s.state = 'down';
      const delayMs = backoff(s.failures, this.options.minDelayMs ?? 2_000, this.options.maxDelayMs ?? 5 * 60_000);
      // The reason only, scrubbed: a Bot API URL carries the token.
      const reason = scrubbedMessage(error);
      log.error({ channel: s.channel.name, reason, retryInMs: delayMs }, 'channel could not start; retrying');
      if (this.stopping) return;
      s.timer = setTimeout(() => {
        s.timer = undefined;
        if (!this.stopping) s.attempt = this.attempt(s, onMessage);
      }, delayMs);
      s.timer.unref();
    }
  }
}
