import { createReadStream, statSync } from 'node:fs';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import {
  DeliveryError,
  type Channel,
  type IncomingMessage,
  type MessageHandler,
  type Reply,
  type ReplyAddress,
} from '../../src/ports/channel';

export interface SentReply {
  to: ReplyAddress;
  reply: Reply;
}

/**
 * A real `Channel` that lives in the test process: tests hand it messages as a platform would and
 * read what the service sent back. `failNext` makes the next sends fail, as a platform outage would.
 */
export class TestChannel implements Channel {
  readonly name = 'test' as const;
  readonly sent: SentReply[] = [];
  textLimit = 4096;
  private handler?: MessageHandler;
  private failures: DeliveryError[] = [];
  private waiters: (() => void)[] = [];
  private counter = 0;
  private readonly held = new Map<string, Promise<void>>();
  private readonly releases = new Map<string, () => void>();

  async start(onMessage: MessageHandler): Promise<void> {
    this.handler = onMessage;
  }

  async stop(): Promise<void> {
    this.handler = undefined;
  }

  async send(to: ReplyAddress, reply: Reply): Promise<void> {
    await this.held.get(to.chatId);
    const failure = this.failures.shift();
    if (failure) throw failure;
    this.sent.push({ to, reply });
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Sends to `chatId` hang until `release(chatId)`, as they would on a server that stopped answering. */
  hold(chatId: string): void {
    let release!: () => void;
    this.held.set(chatId, new Promise<void>((resolve) => (release = resolve)));
    this.releases.set(chatId, release);
  }

  release(chatId: string): void {
    this.releases.get(chatId)?.();
    this.held.delete(chatId);
  }

  /** Makes the next `count` sends throw (permanent: as if the user blocked the bot). */
  failNext(count: number, permanent = false): void {
    for (let i = 0; i < count; i++) this.failures.push(new DeliveryError('test outage', permanent));
  }

  /** Delivers a message as the platform would; resolves when the service recorded it. */
  async receive(message: IncomingMessage): Promise<void> {
    if (!this.handler) throw new Error('channel not started');
    await this.handler(message);
  }

  /** Gives up on a message as a platform adapter does after its retries (`MessageHandler.gaveUp`). */
  async giveUp(message: IncomingMessage): Promise<void> {
    if (!this.handler?.gaveUp) throw new Error('the handler takes no word of messages given up on');
    await this.handler.gaveUp(message);
  }

  /** A message from `sender` carrying the given files (paths on disk) or in-memory bytes. */
  message(
    sender: string,
    files: (string | { name: string; bytes: Buffer | (() => Readable) })[],
    id = `m${++this.counter}`,
  ): IncomingMessage {
    return {
      channel: 'test',
      id,
      sender: { id: sender },
      replyTo: { channel: 'test', chatId: sender, messageId: id },
      attachments: files.map((file) =>
        typeof file === 'string'
          ? { name: basename(file), size: statSync(file).size, open: async () => createReadStream(file) }
          : { name: file.name, open: async () => (typeof file.bytes === 'function' ? file.bytes() : Readable.from([file.bytes])) },
      ),
    };
  }

  /** A chat command such as `/balance`. */
  command(sender: string, name: string, args = ''): IncomingMessage {
    const id = `c${++this.counter}`;
    return {
      channel: 'test',
      id,
      sender: { id: sender },
      replyTo: { channel: 'test', chatId: sender, messageId: id },
      command: { name, args },
      attachments: [],
    };
  }

  /** Replies sent to `sender`, optionally only of one kind. */
  repliesTo(sender: string, kind?: Reply['kind']): Reply[] {
    return this.sent.filter((s) => s.to.chatId === sender && (!kind || s.reply.kind === kind)).map((s) => s.reply);
  }

  /** Waits until a reply matching `predicate` was sent. */
  async waitForReply(predicate: (reply: Reply, to: ReplyAddress) => boolean, timeoutMs = 120_000): Promise<Reply> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.sent.find((s) => predicate(s.reply, s.to));
      if (hit) return hit.reply;
      if (Date.now() > deadline)
        throw new Error(
          `no matching reply within ${timeoutMs} ms; sent: ${JSON.stringify(this.sent.map((s) => [s.reply.kind, s.reply.text.slice(0, 60)]))}`,
        );
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 250);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}
