import type { IncomingMessage as ChannelMessage, MessageHandler } from '../../src/ports/channel';

/** A MessageHandler that records what the channel hands over, for tests. */
export class RecordingHandler {
  readonly messages: ChannelMessage[] = [];
  /** Makes the next calls reject, as the core does on a transient failure. */
  failures = 0;
  /** Delays each call, as recording a large file does. */
  delayMs = 0;
  calls = 0;

  /** Ids of the messages the channel gave up on (`MessageHandler.gaveUp`), when the handler takes them. */
  readonly givenUp: string[] = [];

  /** `gaveUp`: the handler takes the channel's word that it gave up on a message, as the core does. */
  constructor(options: { gaveUp?: boolean } = {}) {
    if (options.gaveUp) this.handle.gaveUp = async (message) => void this.givenUp.push(message.id);
  }

  readonly handle: MessageHandler = async (message) => {
    this.calls++;
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.failures > 0) {
      this.failures--;
      throw new Error('database busy');
    }
    this.messages.push(message);
  };

  /** Resolves once `count` messages were recorded. */
  async waitFor(count: number, timeoutMs = 60_000): Promise<ChannelMessage[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.messages.length < count) {
      if (Date.now() > deadline) throw new Error(`expected ${count} messages, got ${this.messages.length}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.messages;
  }
}
