/**
 * The service on S3 and the loopback Batch server, the worker run as the container runs it: orders queued
 * together share Batch jobs, a failed group is retried order by order, and short notes skip Batch entirely
 * when `LOCAL_MAX_SECONDS` routes them to the local warm worker.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { spokenFile } from '../support/audio';
import { FakeBatch } from '../support/fake-batch';
import { batchServiceEnv, startS3WithCredentials, workerImageEnv } from '../support/aws';
import type { TestS3 } from '../support/s3rver';
import { startTestService, type TestService } from '../support/service';
import { TestChannel } from '../support/test-channel';

const NOTES = ['Green apples on the table.', 'The train leaves at nine.', 'Call your brother tonight.'];
const WORDS = ['apples', 'train', 'brother'];
/** Under ten seconds of speech. */
const SHORT = 'Please send the quarterly report to the finance team before Friday, and copy the director on it.';
/** Over thirty seconds of speech. */
const LONG = Array(5).fill(SHORT).join(' ');
/** Between the two. */
const LOCAL_MAX_SECONDS = 15;

let s3: TestS3;
let batch: FakeBatch;
let endpoint: string;
let dir: string;
let notes: string[];
let shortNote: string;
let longFile: string;
let svc: TestService | undefined;

beforeAll(async () => {
  s3 = await startS3WithCredentials();
  batch = new FakeBatch({ mode: 'run', containerEnv: workerImageEnv(s3) });
  endpoint = await batch.start();
  dir = await mkdtemp(join(tmpdir(), 'batch-groups-'));
  notes = await Promise.all(NOTES.map((text, i) => spokenFile(dir, `note${i}.ogg`, text)));
  shortNote = await spokenFile(dir, 'short.ogg', SHORT);
  longFile = await spokenFile(dir, 'long.ogg', LONG);
});
afterEach(async () => {
  await svc?.stop();
  svc = undefined;
});
afterAll(async () => {
  await batch?.stop();
  await s3?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
  vi.unstubAllEnvs();
});

const env = (extra: Record<string, string> = {}) => batchServiceEnv(s3, endpoint, extra);

/**
 * Submissions since `from` whose manifest lists this order. Order ids come from message ids, so each test names
 * its messages: the Batch server and the bucket outlive a test's service, and a restarted service rightly takes
 * a job it finds holding one of its orders as that order's job.
 */
const jobsOf = (orderId: string, from = 0) =>
  batch.submissions.slice(from).filter((job) => {
    const parsed = JSON.parse(job.environment.JOB_MANIFEST!) as { jobId: string } | { jobId: string }[];
    return (Array.isArray(parsed) ? parsed : [parsed]).some((m) => m.jobId === orderId);
  });

describe('grouped Batch jobs', () => {
  it('20 orders queued together share one Batch job, each transcript back to its own sender', async () => {
    const channel = new TestChannel();
    svc = await startTestService({ env: env(), channels: [channel] });
    const before = batch.submissions.length;
    const senders = Array.from({ length: 20 }, (_, n) => `user${n}`);
    await Promise.all(senders.map((sender, n) => channel.receive(channel.message(sender, [notes[n % notes.length]!], `burst-${n}`))));
    for (const [n, sender] of senders.entries()) {
      const transcript = await channel.waitForReply((r, to) => r.kind === 'transcript' && to.chatId === sender, 240_000);
      expect(transcript.text.toLowerCase()).toContain(WORDS[n % WORDS.length]);
    }
    const jobs = batch.submissions.slice(before);
    console.log(`20 queued orders -> ${jobs.length} Batch job(s)`);
    // One burst, one job (two if this loaded machine took over ten seconds to take the burst in).
    expect(jobs.length).toBeLessThanOrEqual(2);
    const orders = svc.orders();
    expect(orders.filter((o) => o.state === 'delivered')).toHaveLength(20);
    for (const order of orders) expect(jobsOf(order.id, before)).toHaveLength(1);
    for (const sender of senders) expect(channel.repliesTo(sender, 'transcript')).toHaveLength(1);
  });

  it('a failed group job is retried order by order, each in a job of its own', async () => {
    const channel = new TestChannel();
    svc = await startTestService({ env: env(), channels: [channel] });
    const image = batch.options.containerEnv!;
    const model = image.WHISPER_MODEL;
    image.WHISPER_MODEL = join(dir, 'missing-model.bin');
    const before = batch.submissions.length;
    try {
      await Promise.all(['kim', 'lee', 'max'].map((sender, n) => channel.receive(channel.message(sender, [notes[n]!], `retry-${n}`))));
      const deadline = Date.now() + 120_000;
      while (!batch.submissions.slice(before).some((job) => job.status === 'FAILED')) {
        if (Date.now() > deadline) throw new Error('the group job did not fail');
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      image.WHISPER_MODEL = model;
    }
    for (const sender of ['kim', 'lee', 'max'])
      await channel.waitForReply((r, to) => r.kind === 'transcript' && to.chatId === sender, 180_000);
    const jobs = batch.submissions.slice(before);
    const manifests = jobs.map((job) => JSON.parse(job.environment.JOB_MANIFEST!) as unknown);
    // First the three together (failed), then each alone (succeeded).
    expect(manifests.filter((m) => Array.isArray(m) && m.length === 3)).toHaveLength(1);
    expect(jobs.filter((job) => !Array.isArray(JSON.parse(job.environment.JOB_MANIFEST!)) && job.status === 'SUCCEEDED')).toHaveLength(3);
    for (const order of svc.orders()) expect(order.state).toBe('delivered');
  });
});

describe('short orders on the local worker (LOCAL_MAX_SECONDS)', () => {
  it('a short note is transcribed locally while the GPU for a long file is still starting; the long file goes to Batch', async () => {
    const channel = new TestChannel();
    svc = await startTestService({ env: env({ LOCAL_MAX_SECONDS: String(LOCAL_MAX_SECONDS) }), channels: [channel] });
    const before = batch.submissions.length;
    // A cold GPU instance takes minutes to start: here it starts only when the test says so.
    const gpuUp = batch.holdStarts();
    try {
      await channel.receive(channel.message('nora', [longFile], 'long-1'));
      await channel.receive(channel.message('omar', [shortNote], 'short-1'));
      const short = await channel.waitForReply((r, to) => r.kind === 'transcript' && to.chatId === 'omar', 120_000);
      expect(short.text.toLowerCase()).toContain('finance');
      // The note did not wait for the GPU: the long file has no transcript yet, and cannot have one.
      expect(channel.repliesTo('nora', 'transcript')).toEqual([]);
      expect(svc.orders().find((o) => o.senderId === 'nora')?.state).not.toBe('delivered');
    } finally {
      gpuUp();
    }
    await channel.waitForReply((r, to) => r.kind === 'transcript' && to.chatId === 'nora', 240_000);
    const orders = svc.orders();
    const shortOrder = orders.find((o) => o.senderId === 'omar')!;
    const longOrder = orders.find((o) => o.senderId === 'nora')!;
    expect(shortOrder.seconds).toBeLessThanOrEqual(LOCAL_MAX_SECONDS);
    expect(longOrder.seconds).toBeGreaterThan(LOCAL_MAX_SECONDS);
    expect(jobsOf(shortOrder.id, before)).toEqual([]);
    expect(jobsOf(longOrder.id, before)).toHaveLength(1);
    expect(batch.submissions.slice(before)).toHaveLength(1);
    expect(shortOrder.state).toBe('delivered');
    expect(longOrder.state).toBe('delivered');
  });
});
