/**
 * Streaming a large upload into the S3 blob store (s3rver on loopback) next to the local directory store
 * in the same run: throughput, and peak resident memory above the start, which must stay at a few
 * multipart parts whatever the size. Also how fast a 10 MB limit stops a stream that keeps coming.
 * Prints medians; never fails.
 *
 *   BENCH_S3_MB=256   size of each upload in MiB
 *   BENCH_ROUNDS=3    rounds of each store
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { BlobTooLargeError, type BlobStore } from '../src/ports/blob-store';
import { LocalBlobStore } from '../src/storage/local-blob-store';
import { S3BlobStore } from '../src/storage/s3-blob-store';
import { startS3 } from '../test/support/s3rver';
import { RssSampler } from './support/rss';
import { fixed, median, mib } from './support/stats';

const MiB = 1024 * 1024;
const SIZE = Number(process.env.BENCH_S3_MB ?? 256) * MiB;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

/** `total` bytes made as they are read, like an attachment arriving from a platform. */
function generated(total: number): Readable {
  let sent = 0;
  const chunk = Buffer.alloc(64 * 1024, 7);
  return new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const size = Math.min(chunk.length, total - sent);
      sent += size;
      this.push(size === chunk.length ? chunk : chunk.subarray(0, size));
    },
  });
}

interface Run {
  seconds: number;
  growth: number;
}

async function put(store: BlobStore, key: string, bytes: number, maxBytes?: number): Promise<Run> {
  (globalThis as { gc?: () => void }).gc?.();
  const sampler = new RssSampler(20);
  const before = process.memoryUsage.rss();
  sampler.start();
  const started = performance.now();
  try {
    await store.put(key, generated(bytes), { maxBytes });
  } catch (error) {
    if (!(error instanceof BlobTooLargeError)) throw error;
  }
  const seconds = (performance.now() - started) / 1000;
  return { seconds, growth: sampler.stop() - before };
}

async function main(): Promise<void> {
  const s3 = await startS3('bench');
  process.env.AWS_ACCESS_KEY_ID = s3.env.AWS_ACCESS_KEY_ID;
  process.env.AWS_SECRET_ACCESS_KEY = s3.env.AWS_SECRET_ACCESS_KEY;
  const dir = await mkdtemp(join(tmpdir(), 'bench-local-store-'));
  const local = new LocalBlobStore(dir);
  const remote = new S3BlobStore({ bucket: s3.bucket, region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true });
  try {
    console.log(
      `upload: ${mib(SIZE)} generated stream; ${ROUNDS} rounds each (medians); S3 = s3rver on loopback, 8 MiB parts, 2 at a time`,
    );
    await put(remote, 'warm/up', 16 * MiB);
    await put(local, 'warm/up', 16 * MiB);
    const runs = { local: [] as Run[], s3: [] as Run[], s3Limit: [] as Run[] };
    for (let round = 0; round < ROUNDS; round++) {
      runs.local.push(await put(local, `orders/r${round}/0`, SIZE));
      runs.s3.push(await put(remote, `orders/r${round}/0`, SIZE));
      runs.s3Limit.push(await put(remote, `orders/r${round}/over`, SIZE, 10 * MiB));
    }
    const row = (label: string, bytes: number, list: Run[]) => {
      const seconds = median(list.map((r) => r.seconds));
      const growth = median(list.map((r) => r.growth));
      console.log(
        `${label.padEnd(26)} | ${fixed(seconds, 2, 6)} s | ${fixed(bytes / MiB / seconds, 0, 5)} MiB/s | peak RSS above start ${mib(growth).padStart(9)}`,
      );
      return { seconds, growth };
    };
    const l = row('local directory store', SIZE, runs.local);
    const s = row('S3 store (multipart)', SIZE, runs.s3);
    const o = row('S3 store, 10 MiB limit hit', 10 * MiB, runs.s3Limit);
    console.log(
      `S3/local time ratio: ${fixed(s.seconds / l.seconds, 2)}; S3 peak growth is ${fixed((s.growth / SIZE) * 100, 1)} % of the upload's size`,
    );
    console.log(
      `a stream over the limit is refused after ${fixed(o.seconds * 1000, 0)} ms (a full upload takes ${fixed(s.seconds * 1000, 0)} ms)`,
    );
    console.log(`multipart uploads left open: ${(await s3.openUploads()).length}`);
  } finally {
    remote.client.destroy();
    await s3.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
