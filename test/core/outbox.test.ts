import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Db } from '../../src/db';
import { orders, outbox } from '../../src/db/schema';
import { transaction } from '../../src/db/tx';
import type { TranscriptResult } from '../../src/domain/transcript';
import { Ledger } from '../../src/ledger';
import { silentLogger } from '../../src/log';
import { completeOrder, queueOrder, receiveOrder, startJobs } from '../../src/orders/lifecycle';
import { orderFiles } from '../../src/orders/summary';
import { enqueueReply } from '../../src/outbox/outbox';
import { OutboxSender } from '../../src/outbox/sender';
import { resultKey } from '../../src/ports/runner';
import { LocalBlobStore } from '../../src/storage/local-blob-store';
import { findOrCreateUser } from '../../src/users';
import { startTestService, type TestService } from '../support/service';
import { TestChannel } from '../support/test-channel';

const HOUR = 60 * 60_000;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outbox-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('replies waiting out a back-off', () => {
  let svc: TestService | undefined;
  afterEach(async () => {
    await svc?.stop();
    svc = undefined;
  });

  it('200 of them, in other chats, do not hold up a new reply', async () => {
    const channel = new TestChannel();
    svc = await startTestService({ channels: [channel] });
    const { db } = svc.service;
    // One transaction: the sender cannot run in between and send them before they are made to wait.
    transaction(db, () => {
      for (let i = 0; i < 200; i++) {
        enqueueReply(
          db,
          { channel: 'test', chatId: `waiting-${i}`, messageId: 'm' },
          { key: `waiting:${i}`, kind: 'notice', text: 'An old notice.' },
        );
      }
      db.update(outbox)
        .set({ attempts: 3, nextAttemptAt: Date.now() + HOUR })
        .run();
    });

    await channel.receive(channel.command('zed', 'balance'));
    const answer = await channel.waitForReply((_, to) => to.chatId === 'zed', 60_000);
    expect(answer.kind).toBe('command');
    expect(channel.sent.filter((s) => s.to.chatId.startsWith('waiting-'))).toEqual([]);
  });
});

describe('a chat whose sends hang', () => {
  it('does not keep replies to other chats waiting, in the same channel', async () => {
    const channel = new TestChannel();
    const svc = await startTestService({ channels: [channel] });
    try {
      channel.hold('stuck');
      await channel.receive(channel.command('stuck', 'balance'));
      // Its reply is in flight and hangs; later replies to other chats still go out, one after another.
      for (const chat of ['amy', 'bo', 'cy']) {
        await channel.receive(channel.command(chat, 'balance'));
        await channel.waitForReply((_, to) => to.chatId === chat, 60_000);
      }
      expect(channel.repliesTo('stuck')).toEqual([]);
      channel.release('stuck');
      await channel.waitForReply((_, to) => to.chatId === 'stuck', 60_000);
      expect(channel.sent.map((s) => s.to.chatId)).toEqual(['amy', 'bo', 'cy', 'stuck']);
      // A send that never ends does not hold up the service's stop either.
      channel.hold('forever');
      await channel.receive(channel.command('forever', 'balance'));
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      await svc.stop();
    }
  });
});

describe('the retry budget', () => {
  it('keeps trying a refused reply for a day, counted in time rather than tries, then gives it up', async () => {
    const db = openDatabase(':memory:');
    const channel = new TestChannel();
    channel.failNext(1000);
    const sender = new OutboxSender({ db, store: new LocalBlobStore(join(dir, 'budget')), channels: [channel], log: silentLogger });
    const to = { channel: 'test' as const, chatId: 'amy', messageId: 'm1' };
    enqueueReply(db, to, { key: 'first', kind: 'command', text: 'Your balance: 10 min.' });
    enqueueReply(db, to, { key: 'second', kind: 'command', text: 'Send me a voice note.' });
    const row = (key: string) => db.select().from(outbox).where(eq(outbox.key, key)).get()!;
    const age = (key: string, ms: number, attempts?: number) =>
      db
        .update(outbox)
        .set({ createdAt: Date.now() - ms, nextAttemptAt: 0, ...(attempts === undefined ? {} : { attempts }) })
        .where(eq(outbox.key, key))
        .run();

    await sender.tick('test');
    expect(row('first')).toMatchObject({ state: 'pending', attempts: 1 });
    // The second waits behind the first, in order, without a try of its own.
    await sender.tick('test');
    expect(row('second')).toMatchObject({ state: 'pending', attempts: 0 });

    // Six hours and twenty tries on: still retried (the old limit gave up after 16 tries, about 5 hours).
    age('first', 6 * HOUR, 20);
    await sender.tick('test');
    expect(row('first')).toMatchObject({ state: 'pending', attempts: 21 });
    expect(row('first').nextAttemptAt - Date.now()).toBeLessThanOrEqual(HOUR);
    expect(row('first').nextAttemptAt - Date.now()).toBeGreaterThan(HOUR - 60_000);

    age('first', 24 * HOUR - 60_000);
    await sender.tick('test');
    expect(row('first').state).toBe('pending');

    // A try that fails once the day is over ends it; the reply behind it goes next.
    age('first', 24 * HOUR + 1000);
    await sender.tick('test');
    expect(row('first').state).toBe('dead');
    expect(row('second').attempts).toBe(1);
    expect(channel.sent).toEqual([]);
    db.$client.close();
  });
});

/** A local store whose deletes fail while `failing` is set, as a store that refuses deletes would. */
class FailingDeletes extends LocalBlobStore {
  failing = true;
  override async delete(key: string): Promise<void> {
    if (this.failing) throw new Error('store refused the delete');
    return super.delete(key);
  }
}

describe('audio clean-up after a transcript', () => {
  it('a failing delete leaves the sent transcript sent, and the delete is retried later', async () => {
    const db: Db = openDatabase(':memory:');
    const ledger = new Ledger(db);
    const store = new FailingDeletes(join(dir, 'cleanup'));
    const channel = new TestChannel();
    const sender = new OutboxSender({ db, store, channels: [channel], log: silentLogger });

    const user = transaction(db, () => findOrCreateUser(db, ledger, 'test', 'kim', 600));
    const replyTo = { channel: 'test' as const, chatId: 'kim', messageId: 'm1' };
    const audio = 'orders/o1/0';
    receiveOrder(db, { id: 'o1', userId: user.id, channel: 'test', replyTo, language: null }, [
      { position: 0, name: 'memo.ogg', key: audio, bytes: 5, duration: 3 },
    ]);
    await store.put(audio, Buffer.from('audio'));
    const result: TranscriptResult = {
      version: 1,
      file: 'memo.ogg',
      duration: 3,
      language: 'en',
      model: 'tiny.en',
      text: 'Hello there.',
      segments: [{ start: 0, end: 3, text: 'Hello there.' }],
    };
    await store.put(resultKey(audio), Buffer.from(JSON.stringify(result)));
    const order = () => db.select().from(orders).where(eq(orders.id, 'o1')).get()!;
    queueOrder({ db, ledger }, order(), [], 3);
    startJobs(db, [{ order: order(), runnerJobId: 'job-1' }]);
    expect(completeOrder({ db, ledger }, order(), orderFiles(db, 'o1'), [])).toBe('delivered');

    await sender.tick('test');
    const transcripts = () => channel.sent.filter((s) => s.reply.kind === 'transcript');
    expect(transcripts()).toHaveLength(1);
    expect(transcripts()[0].reply.text).toBe('Hello there.\n\nLanguage: English.');
    expect(db.select().from(outbox).where(eq(outbox.key, 'transcript:o1')).get()!.state).toBe('sent');
    expect(await store.exists(audio)).toBe(true);
    expect(order().audioDeletedAt).toBeNull();

    // Later passes send nothing again, and the sweep keeps failing quietly while the store refuses.
    await sender.tick('test');
    await sender.cleanup.tick();
    expect(transcripts()).toHaveLength(1);
    expect(await store.exists(audio)).toBe(true);

    store.failing = false;
    await sender.cleanup.tick();
    expect(await store.exists(audio)).toBe(false);
    expect(await store.exists(resultKey(audio))).toBe(true);
    expect(order().audioDeletedAt).toBeTypeOf('number');
    await sender.tick('test');
    expect(transcripts()).toHaveLength(1);
    expect(db.select().from(outbox).where(eq(outbox.key, 'transcript:o1')).get()!.state).toBe('sent');
    db.$client.close();
  });
});
