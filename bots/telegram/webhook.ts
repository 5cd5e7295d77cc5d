import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../../src/log';
import type { TgUpdate } from './inbound';

/** Webhook mode: Telegram posts updates to `url`, which nginx (TLS) forwards to `host:port`. */
export interface WebhookOptions {
  /** Public https URL Telegram posts to, e.g. https://bot.example.com/telegram/<random>. */
  url: string;
  /** Telegram sends it back in X-Telegram-Bot-Api-Secret-Token; requests without it are refused. 1-256 of A-Z a-z 0-9 _ -. */
  secretToken: string;
  /** Local listener behind the proxy. */
  port: number;
  host?: string;
}

const MAX_UPDATE_BYTES = 1024 * 1024;

/**
 * A plain HTTP listener for webhook updates. It answers 200 only once the update is recorded, and 500
 * otherwise, so Telegram delivers it again: the same durability as polling's late offset confirmation.
 */
export async function listenForWebhooks(
  options: WebhookOptions,
  handle: (update: TgUpdate) => Promise<boolean>,
  log: Logger,
): Promise<Server> {
  const path = new URL(options.url).pathname;
  const secret = Buffer.from(options.secretToken);
  const server = createServer((req, res) => {
    serve(req, res).catch((error: unknown) => {
      log.error({ err: error }, 'telegram webhook request failed');
      if (!res.headersSent) res.writeHead(500).end();
    });
  });

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const given = Buffer.from(String(req.headers['x-telegram-bot-api-secret-token'] ?? ''));
    if (req.method !== 'POST' || new URL(req.url ?? '/', 'http://localhost').pathname !== path) {
      res.writeHead(404).end();
      return;
    }
    if (given.length !== secret.length || !timingSafeEqual(given, secret)) {
      log.warn('telegram webhook request without the secret token; refused');
      res.writeHead(401).end();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_UPDATE_BYTES) {
        res.writeHead(413).end();
        return;
      }
      chunks.push(chunk as Buffer);
    }
    let update: TgUpdate;
    try {
      update = JSON.parse(Buffer.concat(chunks).toString('utf8')) as TgUpdate;
    } catch {
      res.writeHead(400).end();
      return;
    }
    if (typeof update?.update_id !== 'number') {
      res.writeHead(400).end();
      return;
    }
    const done = await handle(update);
    res.writeHead(done ? 200 : 500).end();
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  return server;
}
