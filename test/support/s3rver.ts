import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';

/** s3rver keeps a bucket's unfinished multipart uploads in this folder, one sub-folder per upload id. */
export const uploadsDir = (directory: string, bucket: string): string => join(directory, bucket, '._S3rver_uploads');

export interface TestS3 {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  bucket: string;
  /** Where s3rver keeps the bucket's files. */
  directory: string;
  /** Multipart uploads started and neither completed nor aborted, read from s3rver's own folders. */
  openUploads(): Promise<string[]>;
  /** The environment the service and the worker read to use this bucket (s3rver knows one account: S3RVER). */
  env: Record<string, string>;
  /** Stops the server, keeping its objects: every request is refused until `restore`. */
  outage(): Promise<void>;
  /** Starts it again on the same port over the same objects. */
  restore(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts s3rver on a free loopback port, in its own process, with one empty bucket. */
export async function startS3(bucket = 'transcripts'): Promise<TestS3> {
  const directory = await mkdtemp(join(tmpdir(), 's3rver-'));
  let server = await spawnS3rver(directory, bucket);
  const endpoint = `http://127.0.0.1:${server.port}`;
  return {
    endpoint,
    bucket,
    directory,
    openUploads: async () => readdir(uploadsDir(directory, bucket)).catch(() => []),
    env: {
      STORAGE: 's3',
      S3_BUCKET: bucket,
      S3_ENDPOINT: endpoint,
      S3_FORCE_PATH_STYLE: 'true',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
    },
    async outage() {
      await server.stop();
    },
    async restore() {
      if (server.running()) return;
      server = await spawnS3rver(directory, bucket, server.port);
    },
    async stop() {
      await server.stop();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

/** One s3rver process over `directory`, on `port` or a free one. */
async function spawnS3rver(
  directory: string,
  bucket: string,
  port = 0,
): Promise<{ port: number; running(): boolean; stop(): Promise<void> }> {
  const child = spawn(
    process.execPath,
    ['--openssl-legacy-provider', '--import', 'tsx', resolve('test/support/s3rver-server.ts'), directory, bucket, String(port)],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const bound = await new Promise<number>((done, fail) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => done((JSON.parse(line) as { port: number }).port));
    child.once('exit', (code) => fail(new Error(`s3rver exited ${code} before listening`)));
  });
  return {
    port: bound,
    running: () => child.exitCode === null && child.signalCode === null,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
