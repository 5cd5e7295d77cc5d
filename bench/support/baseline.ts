import Database from 'better-sqlite3';
import Koa from 'koa';
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';

export interface Baseline {
  url: string;
  stop(): Promise<void>;
}

/**
 * The least a message intake can do, for comparison: a bare Koa app that streams each request body
 * to a file, inserts one row into SQLite (WAL, synchronous=NORMAL like the service) and answers.
 */
export async function startBaseline(): Promise<Baseline> {
  const dir = await mkdtemp(join(tmpdir(), 'bench-baseline-'));
  const db = new Database(join(dir, 'baseline.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('create table uploads (id text primary key, sender text not null, bytes integer not null, created_at integer not null)');
  const insert = db.prepare('insert into uploads (id, sender, bytes, created_at) values (?, ?, ?, ?)');

  const app = new Koa();
  app.use(async (ctx) => {
    const id = randomUUID();
    const file = createWriteStream(join(dir, id));
    await pipeline(ctx.req, file);
    insert.run(id, ctx.get('x-sender'), file.bytesWritten, Date.now());
    ctx.body = { id };
  });
  const server = await new Promise<Server>((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/upload`,
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A keep-alive HTTP client for the baseline, one socket per concurrent sender. */
export function baselineClient(url: string, senders: number): { post(sender: string, body: Buffer): Promise<void>; close(): void } {
  const agent = new Agent({ keepAlive: true, maxSockets: senders });
  return {
    post(sender, body) {
      return new Promise((resolve, reject) => {
        const req = request(
          url,
          { method: 'POST', agent, headers: { 'content-type': 'audio/ogg', 'content-length': body.length, 'x-sender': sender } },
          (res) => {
            res.resume();
            res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`baseline answered ${res.statusCode}`))));
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    },
    close: () => agent.destroy(),
  };
}
