/**
 * s3rver as its own process, for tests: `node --openssl-legacy-provider --import tsx s3rver-server.ts DIR BUCKET [PORT]`.
 * Prints `{"port":N}` once listening (on PORT, or a free one). It needs the legacy OpenSSL provider because s3rver 3.7 makes its
 * list continuation tokens with DES, which Node's OpenSSL 3 no longer offers by default.
 *
 * s3rver 3.7 also lacks AbortMultipartUpload and ListMultipartUploads; a small middleware answers both from
 * s3rver's own upload folders, as S3 would, and a race in its multi-object delete is mended.
 */
import { readdir, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { uploadsDir } from './s3rver';

/** The part of s3rver (a CommonJS Koa app without types) used here. */
interface S3rverApp {
  store: { deleteObject(bucket: string, key: string): Promise<void> };
  middleware: ((ctx: ShimContext, next: () => Promise<void>) => Promise<void>)[];
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
interface ShimContext {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  status: number;
  type: string;
  body: unknown;
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverApp;

const S3rver = createRequire(import.meta.url)('s3rver') as S3rverConstructor;

async function main(): Promise<void> {
  const [directory, bucket, port] = process.argv.slice(2);
  const server = new S3rver({
    address: '127.0.0.1',
    port: Number(port ?? 0),
    silent: !process.env.S3_DEBUG,
    directory,
    vhostBuckets: false,
    configureBuckets: [{ name: bucket }],
  });
  // s3rver removes emptied folders after each delete; a multi-object delete runs those side by side and one
  // finds the folder already gone (ENOENT) after the objects themselves were removed: that is success.
  const deleteObject = server.store.deleteObject.bind(server.store);
  server.store.deleteObject = async (name, key) => {
    await deleteObject(name, key).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw error;
    });
  };
  server.middleware.unshift(async (ctx, next) => {
    const [name, ...key] = ctx.path.split('/').filter(Boolean);
    if (ctx.method === 'DELETE' && key.length > 0 && typeof ctx.query.uploadId === 'string') {
      await rm(join(uploadsDir(directory, name), ctx.query.uploadId.replace(/[^a-f0-9]/g, '')), { recursive: true, force: true });
      ctx.status = 204;
      return;
    }
    if (ctx.method === 'GET' && key.length === 0 && 'uploads' in ctx.query) {
      const ids = await readdir(uploadsDir(directory, name)).catch(() => []);
      ctx.type = 'application/xml';
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult><Bucket>${name}</Bucket><IsTruncated>false</IsTruncated>${ids
        .map((id) => `<Upload><UploadId>${id}</UploadId></Upload>`)
        .join('')}</ListMultipartUploadsResult>`;
      return;
    }
    await next();
  });
  const address = await server.run();
  process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
  process.once('SIGTERM', () => void server.close().finally(() => process.exit(0)));
  // The test process holds our stdin: when it goes (even killed), so do we, and no server is left behind.
  process.stdin.resume();
  process.stdin.once('end', () => process.exit(0));
}

void main();
