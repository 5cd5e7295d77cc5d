import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { outbox } from '../../src/db/schema';
import { spokenFile } from '../support/audio';
import { RecordingPayments } from '../support/recording-payments';
import { ScriptedRunner } from '../support/runners';
import { startTestService, type TestService } from '../support/service';
import { TestChannel } from '../support/test-channel';

/**
 * Failures that used to leave the user without a word: a file the channel could not fetch after its
 * retries, and a payment link the provider would not create. Each is told to the user once, through the
 * outbox's keyed replies, however often the failure is retried.
 */

let dir: string;
let voice: string;
let svc: TestService | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'silent-'));
  voice = await spokenFile(dir, 'memo.ogg', 'The meeting moved to Thursday.');
});
afterAll(() => rm(dir, { recursive: true, force: true }));
afterEach(async () => {
  await svc?.stop();
  svc = undefined;
});

/** Waits for `condition`, checking every 50 ms (no assumption on how long the service takes). */
async function until(condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const unsent = (): number =>
  svc!.service.db
    .select()
    .from(outbox)
    .all()
    .filter((r) => r.state === 'pending').length;

describe('a file that cannot be fetched', () => {
  it('is answered once with a sentence, however often the channel gives up on the message', async () => {
    const channel = new TestChannel();
    svc = await startTestService({ channels: [channel], runner: new ScriptedRunner('pending') });
    const broken = channel.message('ivy', [
      {
        name: 'voice.ogg',
        bytes: () =>
          new Readable({
            read() {
              this.destroy(new Error('socket hang up'));
            },
          }),
      },
    ]);
    await expect(channel.receive(broken)).rejects.toThrow();
    // The channel retried (as Telegram's recordWithRetry does) and gives up; a later retry or restart gives up again.
    await channel.giveUp(broken);
    await channel.giveUp(broken);
    const reply = await channel.waitForReply((r, to) => to.chatId === 'ivy' && r.kind === 'notice');
    expect(reply.text).toMatch(/could not download the file you sent/);
    expect(reply.text).toMatch(/nothing was charged/);
    await until(() => unsent() === 0, 'the outbox to empty');
    expect(channel.repliesTo('ivy')).toHaveLength(1);
  });
});

describe('a payment link the provider will not create', () => {
  it('tells the user once while retrying, then sends the link', async () => {
    const payments = new RecordingPayments();
    payments.failNext = 3;
    const channel = new TestChannel();
    svc = await startTestService({
      env: { NEW_USER_FREE_SECONDS: '1', PRICE_PER_MINUTE_CENTS: '10', MINIMUM_PAYMENT_CENTS: '50' },
      channels: [channel],
      payments,
      runner: new ScriptedRunner('pending'),
    });
    await channel.receive(channel.message('jon', [voice]));
    const notice = await channel.waitForReply((r, to) => to.chatId === 'jon' && r.kind === 'notice');
    expect(notice.text).toMatch(/could not create the payment link/);
    expect(notice.text).toMatch(/The 1 s of your balance held for this recording go back/);

    const checkouts = (svc.service as unknown as { loops: { name: string; wake(): void }[] }).loops.find((l) => l.name === 'checkouts')!;
    // The recovery loop tries again (woken here rather than waited for) until the provider answers.
    while (payments.failNext > 0) {
      const before = payments.failNext;
      checkouts.wake();
      await until(() => payments.failNext < before, 'another checkout attempt');
    }
    checkouts.wake();
    const quote = await channel.waitForReply((r, to) => to.chatId === 'jon' && r.kind === 'quote');
    expect(quote.action?.url).toContain(svc.orders()[0].id);
    await until(() => unsent() === 0, 'the outbox to empty');
    expect(channel.repliesTo('jon').filter((r) => /could not create the payment link/.test(r.text))).toHaveLength(1);
  });
});
