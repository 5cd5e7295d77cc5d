import Database from 'better-sqlite3';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/log';
import type { JobManifest } from '../../src/ports/runner';
import { resultKey } from '../../src/ports/runner';
import { BatchRunner, batchJobName, compactManifest, SPOT_RETRY_STRATEGY } from '../../src/runner/batch-runner';
import { spokenFile } from '../support/audio';
import { FakeBatch } from '../support/fake-batch';
import { ScriptedRunner } from '../support/runners';
import { RoutedRunner } from '../../src/runner/routed-runner';
import { BATCH_DEFINITION, BATCH_QUEUE, batchServiceEnv, startS3WithCredentials, workerImageEnv } from '../support/aws';
import type { TestS3 } from '../support/s3rver';
import { startTestService, type TestService } from '../support/service';
import { TestChannel } from '../support/test-channel';
import { spoolMessage } from '../support/spool-channel';

const log = createLogger('silent');
const SENTENCE = 'Please send the quarterly report to the finance team before Friday.';

const manifest = (jobId: string, names = ['voice.ogg']): JobManifest => ({
  version: 1,
  jobId,
  inputs: names.map((name, i) => ({ key: `orders/${jobId}/${i}`, name })),
  options: { language: 'auto' },
});

describe('BatchRunner against a Batch-compatible endpoint', () => {
  let batch: FakeBatch;
  let endpoint: string;
  const runners: BatchRunner[] = [];
  const runner = () => {
    const made = new BatchRunner({
      jobQueue: BATCH_QUEUE,
      jobDefinition: BATCH_DEFINITION,
      region: 'us-east-1',
      endpoint,
      log,
      workerEnv: { STORAGE: 's3', S3_BUCKET: 'audio', AWS_REGION: 'us-east-1' },
      attemptTimeoutSeconds: 3600,
    });
    runners.push(made);
    return made;
  };

  beforeAll(async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
    batch = new FakeBatch({ mode: 'hold' });
    endpoint = await batch.start();
  });
  afterAll(async () => {
    for (const r of runners) await r.close();
    await batch?.stop();
    vi.unstubAllEnvs();
  });

  it('submits one job to the queue and definition, the manifest and bucket in its environment', async () => {
    const id = await runner().submit(manifest('order-1', ['voice.ogg', 'call.mp4']));
    const job = batch.jobs.get(id)!;
    expect(job).toMatchObject({ jobName: 'transcribe-order-1', jobQueue: BATCH_QUEUE, jobDefinition: BATCH_DEFINITION });
    expect(job.environment).toMatchObject({ STORAGE: 's3', S3_BUCKET: 'audio', AWS_REGION: 'us-east-1' });
    expect(JSON.parse(job.environment.JOB_MANIFEST)).toEqual(manifest('order-1', ['voice.ogg', 'call.mp4']));
  });

  it('maps every Batch state onto the runner states', async () => {
    const r = runner();
    const id = await r.submit(manifest('order-2'));
    for (const status of ['SUBMITTED', 'PENDING', 'RUNNABLE', 'STARTING'] as const) {
      batch.setStatus(id, status);
      expect(await r.status(id)).toEqual({ state: 'pending' });
    }
    batch.setStatus(id, 'RUNNING');
    expect(await r.status(id)).toEqual({ state: 'running' });
    batch.setStatus(id, 'SUCCEEDED', { exitCode: 0 });
    expect(await r.status(id)).toEqual({ state: 'succeeded' });
    batch.setStatus(id, 'FAILED', { exitCode: 1, reason: 'Essential container in task exited' });
    const failed = await r.status(id);
    expect(failed.state).toBe('failed');
    expect(failed.reason).toContain('Essential container in task exited');
    expect(failed.reason).toContain('exit 1');
    // Exit 2: some inputs failed, each with its own result file; the order is finished, not failed.
    batch.setStatus(id, 'FAILED', { exitCode: 2, reason: 'Essential container in task exited' });
    expect(await r.status(id)).toEqual({ state: 'succeeded' });
    batch.forget(id);
    expect(await r.status(id)).toEqual({ state: 'unknown' });
    expect(await r.status('no-such-job')).toEqual({ state: 'unknown' });
  });

  it('does not start a second job for an order that already has one, even from a fresh process', async () => {
    const first = runner();
    const id = await first.submit(manifest('order-3'));
    expect(await first.submit(manifest('order-3'))).toBe(id);
    // A restarted service knows nothing in memory: Batch's own listing by job name finds the job.
    batch.setStatus(id, 'RUNNING');
    expect(await runner().submit(manifest('order-3'))).toBe(id);
    batch.setStatus(id, 'SUCCEEDED', { exitCode: 0 });
    expect(await runner().submit(manifest('order-3'))).toBe(id);
    expect(batch.submissions.filter((j) => j.jobName === batchJobName('order-3'))).toHaveLength(1);
  });

  it('submits anew after a failure, so the tracker retry really runs again', async () => {
    const r = runner();
    const id = await r.submit(manifest('order-4'));
    batch.setStatus(id, 'FAILED', { exitCode: 137, reason: 'Host EC2 terminated' });
    const retry = await r.submit(manifest('order-4'));
    expect(retry).not.toBe(id);
    expect(await runner().submit(manifest('order-4'))).toBe(retry);
    expect(batch.submissions.filter((j) => j.jobName === batchJobName('order-4'))).toHaveLength(2);
  });

  it('gives each job a time limit and lets Batch retry only attempts whose Spot host was reclaimed', async () => {
    const r = runner();
    const reclaimed = await r.submit(manifest('order-6'));
    const job = batch.jobs.get(reclaimed)!;
    expect(job.timeout).toEqual({ attemptDurationSeconds: 3600 });
    expect(job.retryStrategy).toEqual(SPOT_RETRY_STRATEGY);
    // Spot takes the host twice: Batch runs the job again each time, the service sees it still pending.
    batch.setStatus(reclaimed, 'RUNNING');
    batch.reclaimHost(reclaimed);
    expect(await r.status(reclaimed)).toEqual({ state: 'pending' });
    batch.reclaimHost(reclaimed);
    expect(await r.status(reclaimed)).toEqual({ state: 'pending' });
    // A third reclaim uses up the attempts: the job fails and the tracker's own retry takes over.
    batch.reclaimHost(reclaimed);
    expect((await r.status(reclaimed)).state).toBe('failed');
    expect(job.attempts).toHaveLength(3);

    // A worker that fails, or an attempt past its time limit, is not retried by Batch.
    const crashed = await r.submit(manifest('order-7'));
    batch.endAttempt(crashed, { reason: 'Essential container in task exited', exitCode: 1 });
    expect((await r.status(crashed)).state).toBe('failed');
    const slow = await r.submit(manifest('order-8'));
    batch.endAttempt(slow, { statusReason: 'Job attempt duration exceeded timeout' });
    expect((await r.status(slow)).state).toBe('failed');
    expect(batch.jobs.get(slow)!.attempts).toHaveLength(1);
  });

  it('gives a grouped job the same time limit and Spot retries as a single one', async () => {
    const outcomes = await runner().submitMany([manifest('order-9'), manifest('order-10')], Date.now());
    const ids = outcomes.map((o) => ('runnerJobId' in o ? o.runnerJobId : undefined));
    expect(ids[0]).toBeDefined();
    expect(ids[1]).toBe(ids[0]);
    const job = batch.jobs.get(ids[0]!)!;
    expect(JSON.parse(job.environment.JOB_MANIFEST).map((m: JobManifest) => m.jobId)).toEqual(['order-9', 'order-10']);
    expect(job.timeout).toEqual({ attemptDurationSeconds: 3600 });
    expect(job.retryStrategy).toEqual(SPOT_RETRY_STRATEGY);
  });

  it('answers a tracker pass over 120 Batch jobs with one DescribeJobs per 100, and beside local jobs asks Batch only at its own interval', async () => {
    const batchRunner = runner();
    const local = new ScriptedRunner('running');
    const routed = new RoutedRunner(local, batchRunner, 60);
    const batchIds: string[] = [];
    for (let i = 0; i < 120; i++) batchIds.push(await batchRunner.submit(manifest(`many-${i}`)));
    const localId = await routed.submit({ ...manifest('short'), inputs: [{ key: 'orders/short/0', name: 'note.ogg', chargedSeconds: 5 }] });
    const describes = () => batch.calls.filter((call) => call === 'describejobs').length;

    const before = describes();
    const first = await routed.statusMany([...batchIds, localId]);
    expect(describes() - before).toBe(2);
    expect(first.size).toBe(121);
    expect([...first.values()].filter((s) => s.state === 'pending')).toHaveLength(120);
    expect(first.get(localId)).toEqual({ state: 'running' });

    // The tracker passes again and again for the local job (every 500 ms): Batch is not asked before its 10 s are up.
    for (let pass = 0; pass < 10; pass++) {
      const again = await routed.statusMany([...batchIds, localId]);
      expect([...again.keys()]).toEqual([localId]);
    }
    expect(describes() - before).toBe(2);
    expect(batchRunner.pollIntervalMs).toBe(10_000);
  });

  it('keeps the manifest within the container override limit, shortening only display names', () => {
    const names = Array.from({ length: 40 }, (_, i) => `${'very long recording name '.repeat(8)}${i}.m4a`);
    const json = compactManifest(manifest('order-5', names));
    expect(Buffer.byteLength(json)).toBeLessThanOrEqual(6000);
    const parsed = JSON.parse(json) as JobManifest;
    expect(parsed.inputs.map((i) => i.key)).toEqual(names.map((_, i) => `orders/order-5/${i}`));
    for (const input of parsed.inputs) expect(input.name).toMatch(/\.m4a$/);
    expect(batchJobName('a.b/c')).toBe('transcribe-a-b-c');
  });
});

describe('the service on S3 and AWS Batch, the worker run as the container runs it', () => {
  let s3: TestS3;
  let batch: FakeBatch;
  let endpoint: string;
  let dir: string;
  let voice: string;
  let svc: TestService | undefined;
  const channel = new TestChannel();
  const serviceEnv = () => batchServiceEnv(s3, endpoint);

  beforeAll(async () => {
    s3 = await startS3WithCredentials();
    batch = new FakeBatch({ mode: 'run', containerEnv: workerImageEnv(s3) });
    endpoint = await batch.start();
    dir = await mkdtemp(join(tmpdir(), 'batch-e2e-'));
    voice = await spokenFile(dir, 'voice.ogg', SENTENCE);
  });
  afterEach(async () => {
    await svc?.stop();
    svc = undefined;
  });
  afterAll(async () => {
    await batch?.stop();
    await s3?.stop();
    await rm(dir, { recursive: true, force: true });
    vi.unstubAllEnvs();
  });

  it('transcribes through one Batch job that reads and writes the same bucket', async () => {
    svc = await startTestService({ env: serviceEnv(), channels: [channel] });
    await channel.receive(channel.message('alice', [voice]));
    const transcript = await channel.waitForReply((r, to) => r.kind === 'transcript' && to.chatId === 'alice');
    const words = transcript.text.toLowerCase();
    for (const word of ['quarterly', 'report', 'finance', 'friday']) expect(words).toContain(word);
    expect(transcript.files!.map((f) => f.name).sort()).toEqual(['voice.srt', 'voice_result.json']);

    const order = await svc.waitForOrder((o) => o.senderId === 'alice' && o.state === 'delivered');
    const jobs = batch.submissions.filter((j) => j.jobName === batchJobName(order.id));
    expect(jobs).toHaveLength(1);
    expect(jobs[0].status).toBe('SUCCEEDED');
    expect(JSON.parse(jobs[0].environment.JOB_MANIFEST)).toMatchObject({
      jobId: order.id,
      inputs: [{ key: `orders/${order.id}/0`, name: 'voice.ogg' }],
    });
    // Everything lives in the bucket, nothing on the service's disk: the result stays, the audio is removed.
    expect(await svc.service.store.exists(resultKey(`orders/${order.id}/0`))).toBe(true);
    expect(existsSync(join(svc.dataDir, 'blobs'))).toBe(false);
    expect(svc.balance('test', 'alice')).toBeLessThan(600);
  });

  it('refunds the seconds and says so when the Batch job fails', async () => {
    svc = await startTestService({ env: serviceEnv(), channels: [channel] });
    const image = batch.options.containerEnv!;
    const model = image.WHISPER_MODEL;
    image.WHISPER_MODEL = join(dir, 'missing-model.bin');
    try {
      await channel.receive(channel.message('dave', [voice]));
      const notice = await channel.waitForReply((r, to) => to.chatId === 'dave' && r.kind === 'notice' && /fail/i.test(r.text));
      expect(notice.text).toContain('gave back');
    } finally {
      image.WHISPER_MODEL = model;
    }
    const order = await svc.waitForOrder((o) => o.senderId === 'dave' && o.state === 'failed');
    expect(svc.balance('test', 'dave')).toBe(600);
    const jobs = batch.submissions.filter((j) => j.jobName === batchJobName(order.id));
    expect(jobs.length).toBeGreaterThanOrEqual(1);
    expect(jobs.every((j) => j.status === 'FAILED' && j.exitCode === 1)).toBe(true);
    expect(channel.repliesTo('dave', 'transcript')).toEqual([]);
  });

  it('submits once when the service is killed right after SubmitJob and started again', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'batch-crash-'));
    const marker = join(dataDir, 'crashed');
    const env = { ...serviceEnv(), AWS_ACCESS_KEY_ID: s3.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: s3.env.AWS_SECRET_ACCESS_KEY };
    const first = startApp(dataDir, { ...env, CRASH_AT: 'submitted', CRASH_MARKER: marker });
    await until(() => existsSync(join(dataDir, 'spool', 'in')), 30_000, 'the spool');
    await spoolMessage(join(dataDir, 'spool'), { id: 'm1', sender: 'pat', files: [voice] });
    expect((await exited(first)).signal).toBe('SIGKILL');

    // Killed after SubmitJob, before the job id was recorded: the order is still queued, the job exists.
    const db = new Database(join(dataDir, 'service.db'), { readonly: true });
    const [order] = db.prepare('select id, state, runner_job_id as runnerJobId from orders').all() as {
      id: string;
      state: string;
      runnerJobId: string | null;
    }[];
    db.close();
    expect(order).toMatchObject({ state: 'queued', runnerJobId: null });
    expect(batch.submissions.filter((j) => j.jobName === batchJobName(order.id))).toHaveLength(1);

    const second = startApp(dataDir, env);
    try {
      await until(() => sent(dataDir).some((s) => s.reply.kind === 'transcript'), 120_000, 'the transcript');
      await new Promise((r) => setTimeout(r, 2000)); // room for a duplicate to show up, if there were one
    } finally {
      second.kill('SIGTERM');
      await exited(second);
    }
    const transcripts = sent(dataDir).filter((s) => s.reply.kind === 'transcript');
    expect(transcripts).toHaveLength(1);
    expect(transcripts[0].reply.text.toLowerCase()).toContain('finance');
    expect(batch.submissions.filter((j) => j.jobName === batchJobName(order.id))).toHaveLength(1);
    expect(batch.calls).toContain('listjobs');
    await rm(dataDir, { recursive: true, force: true });
  });
});

/** The service as `npm start` runs it, with the spool channel, as its own process (see test/core/crash.test.ts). */
function startApp(dataDir: string, env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'test/support/crash-app.ts'], {
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      DATA_DIR: dataDir,
      SPOOL_DIR: join(dataDir, 'spool'),
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}

function exited(child: ChildProcess, timeoutMs = 120_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve({ code: child.exitCode, signal: child.signalCode });
    const timer = setTimeout(() => reject(new Error('process did not exit')), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

function sent(dataDir: string): { reply: { kind: string; text: string } }[] {
  const file = join(dataDir, 'spool', 'out.log');
  return existsSync(file)
    ? readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    : [];
}

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
