import { Writable } from 'node:stream';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runAdmin } from '../../src/admin/cli';
import { adminTools } from '../../src/app/admin-tools';
import { outbox } from '../../src/db/schema';
import { generatedVoiceNote } from '../support/audio';
import { FakeTelegram } from '../support/fake-telegram';
import { startTestService, type TestService } from '../support/service';

/**
 * A proxy in front of the Bot API answers a send with an HTML page (413 for a large upload, 502 when Telegram is
 * down). node-fetch's "invalid json response body at <url>" then carries the request URL, and the bot token is in
 * that URL. The operator's log, the reply's recorded error and `npm run admin` must show the failure, never the token.
 */

const TOKEN = '7012345678:AAH4x-Secret_TokenForTheLeakTest0';
const SECRET_PART = 'Secret_TokenForTheLeakTest0';
const PAGE = '<html><head><title>413 Request Entity Too Large</title></head><body><center><h1>413</h1></center></body></html>';

describe('the bot token stays out of logs, the outbox and admin output', () => {
  let dir: string;
  let telegram: FakeTelegram;
  let svc: TestService;
  let logged = '';

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'token-leak-'));
    telegram = await new FakeTelegram({ token: TOKEN }).start();
    const sink = new Writable({
      write(chunk, _encoding, done) {
        logged += String(chunk);
        done();
      },
    });
    svc = await startTestService({
      // No free seconds and no Stripe: the order is refused with a reply, and nothing is transcribed.
      env: { TELEGRAM_BOT_TOKEN: TOKEN, TELEGRAM_API_ROOT: telegram.url, TELEGRAM_PAYMENTS: 'stripe', NEW_USER_FREE_SECONDS: '0' },
      logTo: sink,
    });
  });
  afterAll(async () => {
    await svc?.stop();
    await telegram?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a send answered with a 413 HTML page is recorded and logged without the token', async () => {
    telegram.failNext('sendMessage', { status: 413, html: PAGE }, 1000);
    const note = await generatedVoiceNote(dir, 'note.ogg', 'anullsrc=r=16000:cl=mono', 2);
    const content = await readFile(note);
    const file = telegram.addFile(content, 'voice/file_1.oga');
    const message = telegram.message({ voice: { file_id: file.file_id, file_unique_id: file.file_unique_id, duration: 2 } }, { id: 77 });
    telegram.pushUpdate({ message });

    const order = await svc.waitForOrder((o) => o.senderId === '77');
    const failedReply = await waitFor(() =>
      svc.service.db
        .select()
        .from(outbox)
        .where(eq(outbox.orderId, order.id))
        .all()
        .find((row) => row.lastError !== null),
    );
    // The page did reach the bot (so the failure is the one under test), and the operator can tell what happened.
    expect(telegram.callsOf('sendMessage').length).toBeGreaterThan(0);
    expect(failedReply.lastError).toMatch(/invalid json response body/);
    expect(failedReply.lastError).not.toContain(SECRET_PART);

    expect(logged).toMatch(/reply not sent/);
    expect(logged).toMatch(/invalid json response body/);
    expect(logged).not.toContain(SECRET_PART);

    const admin = await runAdmin(['order', order.id], { DATA_DIR: svc.dataDir }, adminTools);
    expect(admin.code).toBe(0);
    expect(admin.stdout).toMatch(/invalid json response body/);
    expect(admin.stdout + admin.stderr).not.toContain(SECRET_PART);
    const asJson = await runAdmin(['order', order.id, '--json'], { DATA_DIR: svc.dataDir }, adminTools);
    expect(asJson.stdout).not.toContain(SECRET_PART);
  });
});

/** Resolves with `probe`'s value once it has one. */
async function waitFor<T>(probe: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error('condition not met');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
