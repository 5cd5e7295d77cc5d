import { appendFileSync, createReadStream, mkdirSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { rename, writeFile } from 'node:fs/promises';
import type { Channel, IncomingMessage, MessageHandler, Reply, ReplyAddress } from '../../src/ports/channel';

/** What a test drops into `<dir>/in/*.json`: a message whose attachments are file paths. */
export interface SpooledMessage {
  id: string;
  sender: string;
  files: string[];
}

/**
 * A `Channel` across processes, for tests that kill the service: messages are files dropped in
 * `in/` (renamed `.done` once the service recorded them, as an IMAP adapter flags `\Seen`), and
 * every reply sent is appended as a JSON line to `out.log`.
 */
export class SpoolChannel implements Channel {
  readonly name = 'test' as const;
  readonly textLimit = 4096;
  private timer?: NodeJS.Timeout;
  private busy = false;

  constructor(private readonly dir: string) {
    mkdirSync(join(dir, 'in'), { recursive: true });
  }

  async start(onMessage: MessageHandler): Promise<void> {
    const poll = async () => {
      if (this.busy) return;
      this.busy = true;
      try {
        for (const name of readdirSync(join(this.dir, 'in'))
          .filter((n) => n.endsWith('.json'))
          .sort()) {
          const path = join(this.dir, 'in', name);
          const spooled = JSON.parse(readFileSync(path, 'utf8')) as SpooledMessage;
          await onMessage(toIncoming(spooled));
          renameSync(path, `${path}.done`);
        }
      } finally {
        this.busy = false;
      }
    };
    this.timer = setInterval(() => void poll(), 100);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
  }

  async send(to: ReplyAddress, reply: Reply): Promise<void> {
    const files = reply.files?.map((f) => ({ name: f.name, content: f.content.toString('utf8') }));
    appendFileSync(join(this.dir, 'out.log'), `${JSON.stringify({ to, reply: { ...reply, files } })}\n`);
  }
}

function toIncoming(m: SpooledMessage): IncomingMessage {
  return {
    channel: 'test',
    id: m.id,
    sender: { id: m.sender },
    replyTo: { channel: 'test', chatId: m.sender, messageId: m.id },
    attachments: m.files.map((path) => ({ name: basename(path), size: statSync(path).size, open: async () => createReadStream(path) })),
  };
}

/**
 * Puts a message in the spool the way a mail drop does: written under another name, then renamed, so the
 * channel's poll never reads a half-written file (it polls every 100 ms, and a loaded machine writes slowly).
 */
export async function spoolMessage(spoolDir: string, message: SpooledMessage): Promise<void> {
  const path = join(spoolDir, 'in', `${message.id}.json`);
  await writeFile(`${path}.part`, JSON.stringify(message));
  await rename(`${path}.part`, path);
}
