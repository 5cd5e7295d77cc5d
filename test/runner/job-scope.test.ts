/**
 * Each Batch job gets its own credentials: a session of the job role (`BATCH_JOB_ROLE_ARN`) from STS, narrowed by a
 * session policy to its own orders' folders, handed to the worker in the job's environment. The SDKs talk to a
 * loopback STS (Query protocol) and Batch (REST JSON); the policies STS receives are evaluated as IAM would.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { STSClient } from '@aws-sdk/client-sts';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runnerFromConfig } from '../../src/app/runner';
import { blobStoreFromConfig } from '../../src/app/storage';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/log';
import type { JobManifest } from '../../src/ports/runner';
import { BatchRunner } from '../../src/runner/batch-runner';
import { JobCredentials } from '../../src/runner/job-credentials';
import { spokenFile } from '../support/audio';
import { BATCH_DEFINITION, BATCH_QUEUE, batchServiceEnv, startS3WithCredentials } from '../support/aws';
import { FakeBatch, type FakeJob } from '../support/fake-batch';
import { FakeSts, STS_POLICY_MAX_CHARS, type AssumeRoleCall } from '../support/fake-sts';
import { allows } from '../support/iam-policy';
import type { TestS3 } from '../support/s3rver';
import { PREPARED_MODEL, startTestService } from '../support/service';
import { TestChannel } from '../support/test-channel';

const ROLE = 'arn:aws:iam::123456789012:role/transcribe-JobScopeRole-1A2B3C';
const BUCKET = 'transcribe-bucket-1a2b3c4d5e6f';
const ATTEMPT_SECONDS = 3600;

/** An order id as intake makes them: 32 hex digits. */
const orderId = (n: number) => n.toString(16).padStart(32, 'a');
const manifest = (id: string, files = 1): JobManifest => ({
  version: 1,
  jobId: id,
  inputs: Array.from({ length: files }, (_, i) => ({ key: `orders/${id}/${i}`, name: `voice${i}.ogg` })),
  options: { language: 'auto' },
});
const object = (key: string, bucket = BUCKET) => `arn:aws:s3:::${bucket}/${key}`;

/** Collects a logger's JSON lines. */
function logCapture() {
  const lines: { level: number; msg: string; [field: string]: unknown }[] = [];
  const text: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        text.push(line);
        lines.push(JSON.parse(line) as (typeof lines)[number]);
      }
      done();
    },
  });
  return { lines, text, stream, log: createLogger('info', stream) };
}

/** The STS call that gave `job` its credentials (matched by session token). */
function sessionOf(sts: FakeSts, job: FakeJob): AssumeRoleCall {
  const call = sts.calls.find((c) => c.issued?.sessionToken === job.environment.AWS_SESSION_TOKEN);
  if (!call) throw new Error(`job ${job.jobName} carries no session from STS`);
  return call;
}

describe('per-job credentials (BatchRunner with a job role)', () => {
  let batch: FakeBatch;
  let batchEndpoint: string;
  let sts: FakeSts;
  let stsEndpoint: string;
  const runners: BatchRunner[] = [];
  const runner = (options: { log?: ReturnType<typeof logCapture>['log']; bucket?: string; stsAt?: string } = {}) => {
    const log = options.log ?? createLogger('silent');
    const made = new BatchRunner({
      jobQueue: BATCH_QUEUE,
      jobDefinition: BATCH_DEFINITION,
      region: 'us-east-1',
      endpoint: batchEndpoint,
      log,
      workerEnv: { STORAGE: 's3', S3_BUCKET: options.bucket ?? BUCKET, AWS_REGION: 'us-east-1' },
      attemptTimeoutSeconds: ATTEMPT_SECONDS,
      jobCredentials: new JobCredentials({
        roleArn: ROLE,
        bucket: options.bucket ?? BUCKET,
        region: 'us-east-1',
        log,
        client: new STSClient({
          region: 'us-east-1',
          endpoint: options.stsAt ?? stsEndpoint,
          credentials: { accessKeyId: 'service', secretAccessKey: 'service-secret' },
        }),
      }),
    });
    runners.push(made);
    return made;
  };

  beforeAll(async () => {
    vi.stubEnv('AWS_ACCESS_KEY_ID', 'test');
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', 'test');
    batch = new FakeBatch({ mode: 'hold' });
    batchEndpoint = await batch.start();
    sts = new FakeSts({ accessKeyId: 'ASIAJOBSESSIONKEY0001', secretAccessKey: 'job-session-secret-0123456789abcdef' });
    stsEndpoint = await sts.start();
  });
  afterAll(async () => {
    for (const r of runners) await r.close();
    await batch?.stop();
    await sts?.stop();
    vi.unstubAllEnvs();
  });

  it("gives a job a session from STS that reaches only its own order's audio and results", async () => {
    const id = orderId(1);
    const jobId = await runner().submit(manifest(id, 2));
    const job = batch.jobs.get(jobId)!;
    const call = sessionOf(sts, job);
    expect(call).toMatchObject({ roleArn: ROLE, roleSessionName: `transcribe-${id}` });
    // Three attempts (Spot reclaims) at the full time limit, after an hour in the queue.
    expect(call.durationSeconds).toBe(3 * ATTEMPT_SECONDS + 3600);
    expect(job.environment).toMatchObject({
      AWS_ACCESS_KEY_ID: call.issued!.accessKeyId,
      AWS_SECRET_ACCESS_KEY: call.issued!.secretAccessKey,
      AWS_SESSION_TOKEN: call.issued!.sessionToken,
      AWS_CREDENTIAL_EXPIRATION: call.issued!.expiration.toISOString(),
    });

    const policy = call.policy!;
    const other = orderId(2);
    expect(allows(policy, 's3:GetObject', object(`orders/${id}/0`))).toBe(true);
    expect(allows(policy, 's3:GetObject', object(`orders/${id}/1`))).toBe(true);
    expect(allows(policy, 's3:PutObject', object(`orders/${id}/0_result.json`))).toBe(true);
    expect(allows(policy, 's3:PutObject', object(`orders/${id}/1_result.json`))).toBe(true);
    // Its own audio cannot be overwritten; nothing else is reachable.
    expect(allows(policy, 's3:PutObject', object(`orders/${id}/0`))).toBe(false);
    expect(allows(policy, 's3:DeleteObject', object(`orders/${id}/0`))).toBe(false);
    expect(allows(policy, 's3:GetObject', object(`orders/${other}/0`))).toBe(false);
    expect(allows(policy, 's3:PutObject', object(`orders/${other}/0_result.json`))).toBe(false);
    expect(allows(policy, 's3:GetObject', object(`orders/${id}0/0`))).toBe(false);
    expect(allows(policy, 's3:GetObject', object('backups/transcribe-2026-01-01.sqlite.gz'))).toBe(false);
    expect(allows(policy, 's3:GetObject', object(`orders/${id}/0`, 'another-bucket'))).toBe(false);
    expect(allows(policy, 's3:ListBucket', `arn:aws:s3:::${BUCKET}`)).toBe(false);
  });

  it('gives a grouped job one session covering exactly its orders, and no log line carries it even when Batch refuses', async () => {
    const capture = logCapture();
    const group = [orderId(11), orderId(12), orderId(13)];
    const before = batch.submissions.length;
    const [outcome] = await runner({ log: capture.log }).submitMany(
      group.map((id) => manifest(id)),
      Date.now(),
    );
    expect(outcome).toHaveProperty('runnerJobId');
    const jobs = batch.submissions.slice(before);
    expect(jobs).toHaveLength(1);
    const policy = sessionOf(sts, jobs[0]!).policy!;
    for (const id of group) {
      expect(allows(policy, 's3:GetObject', object(`orders/${id}/0`))).toBe(true);
      expect(allows(policy, 's3:PutObject', object(`orders/${id}/0_result.json`))).toBe(true);
      expect(allows(policy, 's3:PutObject', object(`orders/${id}/0`))).toBe(false);
    }
    expect(allows(policy, 's3:GetObject', object(`orders/${orderId(14)}/0`))).toBe(false);
    expect(allows(policy, 's3:PutObject', object(`orders/${orderId(14)}/0_result.json`))).toBe(false);

    // A refused grouped job is logged with its error, then each order is tried alone: still no credential in the log.
    batch.refuseSubmit(() => true);
    try {
      const refused = await runner({ log: capture.log }).submitMany(
        [orderId(15), orderId(16)].map((id) => manifest(id)),
        Date.now(),
      );
      expect(refused.every((o) => 'error' in o)).toBe(true);
    } finally {
      batch.refuseSubmit(undefined);
    }
    expect(capture.lines.some((l) => l.msg.includes('batch refused a grouped job'))).toBe(true);
    const secrets = sts.issuedSecrets();
    expect(secrets.length).toBeGreaterThan(3);
    for (const secret of secrets) expect(capture.text.join('\n')).not.toContain(secret);
  });

  it("splits a burst into groups whose sessions fit STS's policy limit, every order in exactly one", async () => {
    const longBucket = `transcribe-audio-${'x'.repeat(63 - 17)}`;
    const burst = Array.from({ length: 20 }, (_, n) => orderId(100 + n));
    const before = { jobs: batch.submissions.length, calls: sts.calls.length };
    const outcomes = await runner({ bucket: longBucket }).submitMany(
      burst.map((id) => manifest(id)),
      Date.now(),
    );
    expect(outcomes.every((o) => 'runnerJobId' in o)).toBe(true);
    const jobs = batch.submissions.slice(before.jobs);
    expect(jobs.length).toBeGreaterThan(1);
    // STS refuses an over-long policy; none was refused.
    expect(sts.calls.slice(before.calls).every((c) => c.issued)).toBe(true);
    for (const id of burst) {
      const holding = jobs.filter((job) => allows(sessionOf(sts, job).policy!, 's3:GetObject', object(`orders/${id}/0`, longBucket)));
      expect(holding).toHaveLength(1);
      expect((JSON.parse(holding[0]!.environment.JOB_MANIFEST!) as JobManifest[]).map((m) => m.jobId)).toContain(id);
    }
    for (const job of jobs) expect(sessionOf(sts, job).policy!.length).toBeLessThanOrEqual(STS_POLICY_MAX_CHARS);
  });

  it('asks for one hour when the service itself runs on a role (role chaining), and says so once', async () => {
    const chained = new FakeSts({ accessKeyId: 'ASIACHAINED000000001', secretAccessKey: 'chained-secret-0123456789', roleChaining: true });
    const at = await chained.start();
    try {
      const capture = logCapture();
      const r = runner({ log: capture.log, stsAt: at });
      const first = batch.jobs.get(await r.submit(manifest(orderId(201))))!;
      const second = batch.jobs.get(await r.submit(manifest(orderId(202))))!;
      expect(chained.calls.map((c) => [c.durationSeconds, Boolean(c.issued)])).toEqual([
        [3 * ATTEMPT_SECONDS + 3600, false],
        [3600, true],
        [3600, true],
      ]);
      for (const job of [first, second]) expect(sessionOf(chained, job).durationSeconds).toBe(3600);
      const warnings = capture.lines.filter((l) => l.level === 40).map((l) => l.msg);
      expect(warnings.filter((m) => m.includes('job credentials now last one hour'))).toHaveLength(1);
      expect(warnings.filter((m) => m.includes('expire before a job may end'))).toHaveLength(1);
    } finally {
      await chained.stop();
    }
  });

  it('submits nothing without a session: STS down, or an input key outside an order folder', async () => {
    const before = batch.submissions.length;
    sts.refuse({ status: 503, code: 'ServiceUnavailable', message: 'Service is unavailable' });
    try {
      await expect(runner().submit(manifest(orderId(301)))).rejects.toThrow(/unavailable/i);
    } finally {
      sts.refuse(undefined);
    }
    const calls = sts.calls.length;
    const wide: JobManifest = { ...manifest(orderId(302)), inputs: [{ key: 'orders/*/0', name: 'x.ogg' }] };
    await expect(runner().submit(wide)).rejects.toThrow(/outside orders/);
    const flat: JobManifest = { ...manifest(orderId(303)), inputs: [{ key: 'backup.sqlite', name: 'x.ogg' }] };
    await expect(runner().submit(flat)).rejects.toThrow(/outside orders/);
    expect(sts.calls.length).toBe(calls);
    expect(batch.submissions.length).toBe(before);
  });
});

describe('the service with BATCH_JOB_ROLE_ARN', () => {
  let s3: TestS3;
  let batch: FakeBatch;
  let sts: FakeSts;
  let dir: string;

  beforeAll(async () => {
    s3 = await startS3WithCredentials();
    // The image holds no S3 credentials and the job definition's role reaches nothing: only the job's session can.
    batch = new FakeBatch({ mode: 'run', containerEnv: { WHISPER_MODEL: PREPARED_MODEL, WHISPER_THREADS: '2' } });
    // s3rver knows one account, so the sessions STS hands out use its key pair (each with its own session token).
    sts = new FakeSts({ accessKeyId: s3.env.AWS_ACCESS_KEY_ID, secretAccessKey: s3.env.AWS_SECRET_ACCESS_KEY });
    dir = await mkdtemp(join(tmpdir(), 'job-scope-'));
  });
  afterAll(async () => {
    await batch?.stop();
    await sts?.stop();
    await s3?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    vi.unstubAllEnvs();
  });

  it('transcribes an order with the credentials of its own session, and no log line carries them', async () => {
    const [batchEndpoint, stsEndpoint] = await Promise.all([batch.start(), sts.start()]);
    const capture = logCapture();
    const channel = new TestChannel();
    const svc = await startTestService({
      env: batchServiceEnv(s3, batchEndpoint, { BATCH_JOB_ROLE_ARN: ROLE, STS_ENDPOINT: stsEndpoint }),
      channels: [channel],
      logTo: capture.stream,
    });
    try {
      const note = await spokenFile(dir, 'note.ogg', 'Green apples on the table.');
      await channel.receive(channel.message('scoped-user', [note], 'scoped-1'));
      // The transcript, or the sentence that gives the seconds back when the job could not reach its audio.
      const answer = await channel.waitForReply((r) => r.kind === 'transcript' || /gave back/.test(r.text), 170_000);
      expect(answer.kind).toBe('transcript');
      expect(answer.text.toLowerCase()).toContain('apples');
    } finally {
      await svc.stop();
    }
    expect(batch.submissions).toHaveLength(1);
    const job = batch.submissions[0]!;
    const [input] = (JSON.parse(job.environment.JOB_MANIFEST!) as JobManifest).inputs;
    const call = sessionOf(sts, job);
    expect(call.roleArn).toBe(ROLE);
    expect(allows(call.policy!, 's3:GetObject', object(input!.key, s3.bucket))).toBe(true);
    expect(allows(call.policy!, 's3:PutObject', object(`${input!.key}_result.json`, s3.bucket))).toBe(true);
    expect(capture.text.join('\n')).toContain('scoped to its own orders');
    expect(capture.text.join('\n')).not.toContain(call.issued!.sessionToken);
  });
});

describe('BATCH_JOB_ROLE_ARN at start', () => {
  const batchEnv = (extra: Record<string, string>) => ({
    STORAGE: 's3',
    S3_BUCKET: BUCKET,
    RUNNER: 'batch',
    BATCH_JOB_QUEUE: BATCH_QUEUE,
    BATCH_JOB_DEFINITION: BATCH_DEFINITION,
    ...extra,
  });

  it('refuses a value that is not a role ARN, naming the variable', () => {
    expect(() => loadConfig(batchEnv({ BATCH_JOB_ROLE_ARN: 'JobScopeRole' }))).toThrow(/BATCH_JOB_ROLE_ARN/);
  });

  it('says once at start whether jobs are confined to their orders', async () => {
    for (const [extra, expected] of [
      [{}, /BATCH_JOB_ROLE_ARN is unset.*every order/],
      [{ BATCH_JOB_ROLE_ARN: ROLE }, /scoped to its own orders/],
    ] as const) {
      const capture = logCapture();
      const config = loadConfig(batchEnv(extra));
      const runner = runnerFromConfig(config, capture.log, blobStoreFromConfig(config));
      await runner.close();
      expect(capture.lines.filter((l) => expected.test(l.msg))).toHaveLength(1);
    }
  });
});
