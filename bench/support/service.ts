import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { loadConfig } from '../../src/config';
import type { Logger } from '../../src/log';
import type { Reply, ReplyAddress } from '../../src/ports/channel';
import { Service } from '../../src/app/service';
import { ScriptedRunner } from '../../test/support/runners';
import { TestChannel } from '../../test/support/test-channel';

/**
 * The test channel with a stopwatch: remembers when the first reply to each message left the
 * service, which is the moment a chat user would see the service answer.
 */
export class TimedChannel extends TestChannel {
  readonly firstReplyAt = new Map<string, number>();
  private target = 0;
  private onTarget?: () => void;

  override async send(to: ReplyAddress, reply: Reply): Promise<void> {
    await super.send(to, reply);
    if (this.firstReplyAt.has(to.messageId)) return;
    this.firstReplyAt.set(to.messageId, performance.now());
    if (this.firstReplyAt.size >= this.target) this.onTarget?.();
  }

  /** Resolves once `count` different messages got their first reply. */
  answered(count: number, timeoutMs = 60_000): Promise<void> {
    if (this.firstReplyAt.size >= count) return Promise.resolve();
    this.target = count;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${this.firstReplyAt.size} of ${count} messages answered`)), timeoutMs);
      this.onTarget = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

export interface BenchService {
  service: Service;
  channel: TimedChannel;
  stop(): Promise<void>;
}

/**
 * The real service in this process on a fresh temporary DATA_DIR, fed by a `TimedChannel`, with a
 * runner whose jobs stay pending so transcription is left out. Logs are written at `info`, as in
 * production, but to /dev/null: their cost counts, their text does not flood the figures.
 */
export async function startBenchService(env: Record<string, string> = {}): Promise<BenchService> {
  const dataDir = await mkdtemp(join(tmpdir(), 'bench-service-'));
  const config = loadConfig({
    DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    PUBLIC_URL: 'http://127.0.0.1:8080',
    LOG_LEVEL: 'info',
    // A bench sender sends far more than a person may: the per-user limit would drop its messages.
    USER_MESSAGES_PER_MINUTE: '10000',
    ...env,
  });
  const log: Logger = pino({ level: config.logLevel, base: undefined }, pino.destination({ dest: '/dev/null', sync: false }));
  const channel = new TimedChannel();
  const service = new Service(config, { channels: [channel], runner: new ScriptedRunner('pending') }, log);
  await service.start();
  return {
    service,
    channel,
    async stop() {
      await service.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
