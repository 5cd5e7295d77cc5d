import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TranscriptResult } from '../../src/domain/transcript';
import { silentLogger } from '../../src/log';
import { loadConfig } from '../../src/config';
import type { JobManifest, JobStatus, Runner } from '../../src/ports/runner';
import { runnerFromConfig } from '../../src/app/runner';
import { FakeTelegram, type SentMessage } from '../support/fake-telegram';
import { forgedMp3, forgedMp4, forgedOgg, speechWav, type ForgedFile } from '../support/forged-audio';
import { PREPARED_MODEL, type TestService } from '../support/service';
import { startTelegramService, type TelegramTestService } from '../support/telegram-service';

/**
 * A whole order through the Telegram bot with recordings whose headers say one second and whose Telegram
 * `duration` (the sender's client's figure) says one second too: the quote, the ledger and the transcript
 * agree on the real length within a second.
 */

const SPEECH = 'Please send the quarterly report to the finance team before Friday. The museum has a large collection of old paintings.';
const FREE = 60;

describe('forged recordings through a whole Telegram order', () => {
  let dir: string;
  let telegram: FakeTelegram;
  let svc: TestService;
  let running: TelegramTestService;
  let files: ForgedFile[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'forged-order-'));
    const { wav } = await speechWav(dir, SPEECH);
    files = [await forgedMp3(dir, wav), await forgedOgg(dir, wav), await forgedMp4(dir, wav)];
    running = await startTelegramService({ service: { env: { NEW_USER_FREE_SECONDS: String(FREE) } } });
    ({ telegram, svc } = running);
  });
  afterAll(async () => {
    await running?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('charges each file its decoded length and transcribes that much, not the one second its header and Telegram claim', async () => {
    const user = { id: 7001, first_name: 'Mallory' };
    const sent: { file: ForgedFile; messageId: number }[] = [];
    for (const file of files) {
      const content = await readFile(file.path);
      const stored = telegram.addFile(content, `music/${file.name}`);
      const audio = {
        file_id: stored.file_id,
        file_unique_id: stored.file_unique_id,
        duration: 1,
        mime_type: file.mimeType,
        file_name: file.name,
        file_size: content.length,
      };
      const message = telegram.message({ audio }, user) as { message_id: number };
      telegram.pushUpdate({ message });
      sent.push({ file, messageId: message.message_id });
    }

    let charged = 0;
    for (const { file, messageId } of sent) {
      const replies = (): SentMessage[] => telegram.sent.filter((m) => m.reply_to === messageId);
      const json = await telegram.waitFor(() => replies().find((m) => m.document?.filename.endsWith('_result.json')), 180_000);
      const result = JSON.parse(json.document!.content.toString()) as TranscriptResult;
      const order = await svc.waitForOrder((o) => o.replyTo.messageId === String(messageId) && o.state === 'delivered');
      expect(order.state, file.name).toBe('delivered');
      // Quote and ledger: the decoded length, rounded up; the transcript: the same audio, no more.
      expect(order.seconds, file.name).toBeGreaterThan(5);
      expect(
        Math.abs(order.seconds - result.duration),
        `${file.name}: charged ${order.seconds}, transcribed ${result.duration}`,
      ).toBeLessThan(1);
      expect(result.cutAt, file.name).toBeUndefined();
      const words = result.text.toLowerCase();
      for (const word of ['quarterly', 'finance', 'museum']) expect(words, file.name).toContain(word);
      // The quote named the real length, not 0:01.
      const quote = replies().find((m) => m.method === 'sendMessage')!;
      expect(quote.text, file.name).toContain(`• ${file.name} (0:`);
      expect(quote.text, file.name).not.toContain(`• ${file.name} (0:01)`);
      charged += order.seconds;
    }
    expect(svc.balance('telegram', String(user.id))).toBe(FREE - charged);
  });
});

/**
 * Defense in depth: should the worker ever find more audio than intake measured (another decoder, a file changed
 * in the store), it stops at the charged seconds. The real local runner, with each manifest's charge lowered to
 * 3 s to stand for that disagreement.
 */
class UnderchargedRunner implements Runner {
  inner?: Runner;
  submit(manifest: JobManifest): Promise<string> {
    return this.inner!.submit({ ...manifest, inputs: manifest.inputs.map((input) => ({ ...input, chargedSeconds: 3 })) });
  }
  status(id: string): Promise<JobStatus> {
    return this.inner!.status(id);
  }
  async close(): Promise<void> {
    await this.inner?.close();
  }
}

describe('a recording longer than it was charged for', () => {
  let dir: string;
  let telegram: FakeTelegram;
  let svc: TestService;
  let running: TelegramTestService;
  let mp3: ForgedFile;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cut-order-'));
    mp3 = await forgedMp3(dir, (await speechWav(dir, SPEECH)).wav);
    const runner = new UnderchargedRunner();
    running = await startTelegramService({ service: { runner, env: { NEW_USER_FREE_SECONDS: String(FREE) } } });
    ({ telegram, svc } = running);
    const config = loadConfig({ DATA_DIR: svc.dataDir, WHISPER_MODEL: PREPARED_MODEL, WHISPER_THREADS: '2', LOG_LEVEL: 'silent' });
    runner.inner = runnerFromConfig(config, silentLogger, svc.service.store);
  });
  afterAll(async () => {
    await running?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('is transcribed only as far as the charge, and the reply says so plainly', async () => {
    const content = await readFile(mp3.path);
    const stored = telegram.addFile(content, 'music/forged.mp3');
    const audio = {
      file_id: stored.file_id,
      file_unique_id: stored.file_unique_id,
      duration: 1,
      mime_type: mp3.mimeType,
      file_name: mp3.name,
    };
    const message = telegram.message({ audio }, { id: 7002 }) as { message_id: number };
    telegram.pushUpdate({ message });
    const replies = (): SentMessage[] => telegram.sent.filter((m) => m.reply_to === message.message_id);
    const json = await telegram.waitFor(() => replies().find((m) => m.document?.filename === 'forged_result.json'), 180_000);
    const result = JSON.parse(json.document!.content.toString()) as TranscriptResult;
    expect(result.cutAt).toBe(3);
    expect(result.duration).toBe(3);
    expect(result.text.toLowerCase()).not.toContain('museum');
    const said = replies()
      .map((m) => m.edits.at(-1)?.text ?? m.text ?? '')
      .join('\n');
    expect(said).toContain(
      'forged.mp3: the recording runs longer than the 0:03 it measured as when you sent it, so I transcribed only the first 0:03',
    );
  });
});
