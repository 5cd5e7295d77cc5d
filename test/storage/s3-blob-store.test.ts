import { Readable } from 'node:stream';
import { HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BlobNotFoundError, BlobTooLargeError } from '../../src/ports/blob-store';
import { S3BlobStore } from '../../src/storage/s3-blob-store';
import { startS3WithCredentials } from '../support/aws';
import type { TestS3 } from '../support/s3rver';

const MB = 1024 * 1024;

/** `total` bytes in 64 KiB chunks, made as they are read, counting how many were pulled. */
function generated(total: number): Readable & { pulled: () => number } {
  let sent = 0;
  const stream = new Readable({
    read() {
      if (sent >= total) return void this.push(null);
      const size = Math.min(64 * 1024, total - sent);
      sent += size;
      this.push(Buffer.alloc(size, sent % 251));
    },
  });
  return Object.assign(stream, { pulled: () => sent });
}

async function text(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

describe('S3BlobStore on an S3-compatible server', () => {
  let s3: TestS3;
  let store: S3BlobStore;

  beforeAll(async () => {
    s3 = await startS3WithCredentials();
    store = new S3BlobStore({ bucket: s3.bucket, region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true });
  });

  afterAll(async () => {
    store?.client.destroy();
    await s3?.stop();
    vi.unstubAllEnvs();
  });

  const keysUnder = async (prefix: string) =>
    ((await store.client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }))).Contents ?? []).map((o) => o.Key);

  it('stores, reads back, reports and deletes an object', async () => {
    const put = await store.put('orders/o1/f1', Readable.from([Buffer.from('hello '), Buffer.from('world')]), { contentType: 'audio/ogg' });
    expect(put.bytes).toBe(11);
    expect(await store.exists('orders/o1/f1')).toBe(true);
    expect(await text(await store.get('orders/o1/f1'))).toBe('hello world');
    expect((await store.getBuffer('orders/o1/f1')).toString()).toBe('hello world');

    await store.delete('orders/o1/f1');
    expect(await store.exists('orders/o1/f1')).toBe(false);
    await store.delete('orders/o1/f1'); // absent is fine
    await expect(store.get('orders/o1/f1')).rejects.toBeInstanceOf(BlobNotFoundError);
    await expect(store.getBuffer('orders/o1/f1')).rejects.toBeInstanceOf(BlobNotFoundError);
  });

  it("stores a file whatever type its sender's client declared: one no header may carry is left off, not thrown", async () => {
    const head = (key: string) => store.client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: key }));
    for (const [i, declared] of ['audio/ogg; x=\u20ac', 'audio/ogg\r\nX-Injected: 1', '\u00e9\u00e9/\u00e9', ''].entries()) {
      const put = await store.put(`orders/o-type/f${i}`, Buffer.from('voice'), { contentType: declared });
      expect(put.bytes).toBe(5);
      const { ContentType, Metadata } = await head(`orders/o-type/f${i}`);
      expect(ContentType === undefined || /^[\w.+-]+\/[\w.+-]+$/.test(ContentType)).toBe(true);
      expect(Metadata ?? {}).not.toHaveProperty('x-injected');
    }
    expect((await head('orders/o-type/f0')).ContentType).toBe('audio/ogg');
    await store.deletePrefix('orders/o-type');
  });

  it('stores buffers, and streams larger than one part as a multipart upload', async () => {
    await store.put('orders/o2/result.json', Buffer.from('{"ok":true}'), { contentType: 'application/json' });
    expect(JSON.parse((await store.getBuffer('orders/o2/result.json')).toString())).toEqual({ ok: true });

    const size = 20 * MB + 123;
    const put = await store.put('orders/o2/big', generated(size), { maxBytes: 30 * MB });
    expect(put.bytes).toBe(size);
    let read = 0;
    for await (const chunk of await store.get('orders/o2/big')) read += (chunk as Buffer).length;
    expect(read).toBe(size);
    expect(await s3.openUploads()).toEqual([]);
  });

  it('removes every key under an order folder and nothing beside it', async () => {
    for (const key of ['orders/o3/a', 'orders/o3/a_result.json', 'orders/o3/b', 'orders/o30/a']) await store.put(key, Buffer.from(key));
    await store.deletePrefix('orders/o3/');
    expect(await keysUnder('orders/o3/')).toEqual([]);
    expect(await store.exists('orders/o30/a')).toBe(true);
    await store.deletePrefix('orders/o3'); // already empty: fine
  });

  it('deletes folders of more than one listing page', async () => {
    const keys = Array.from({ length: 1010 }, (_, i) => `orders/o4/f${i}`);
    for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => store.put(k, Buffer.from('x'))));
    await store.deletePrefix('orders/o4');
    expect(await keysUnder('orders/o4/')).toEqual([]);
  });

  it('aborts a 50 MB stream at a 10 MB limit, leaving no object and no open multipart upload', async () => {
    const body = generated(50 * MB);
    await expect(store.put('orders/o5/huge', body, { maxBytes: 10 * MB })).rejects.toBeInstanceOf(BlobTooLargeError);
    // It stopped reading near the limit instead of swallowing the whole stream.
    expect(body.pulled()).toBeLessThan(20 * MB);
    expect(body.destroyed).toBe(true);
    expect(await store.exists('orders/o5/huge')).toBe(false);
    expect(await keysUnder('orders/o5/')).toEqual([]);
    const uploads = await store.client.send(new ListMultipartUploadsCommand({ Bucket: s3.bucket }));
    expect(uploads.Uploads ?? []).toEqual([]);
    expect(await s3.openUploads()).toEqual([]);
  });

  it('refuses a buffer over the limit and keeps an earlier object under the same key', async () => {
    await store.put('orders/o6/f', Buffer.from('first'));
    await expect(store.put('orders/o6/f', Buffer.alloc(2048), { maxBytes: 1024 })).rejects.toBeInstanceOf(BlobTooLargeError);
    await expect(store.put('orders/o6/f', generated(4096), { maxBytes: 1024 })).rejects.toBeInstanceOf(BlobTooLargeError);
    expect((await store.getBuffer('orders/o6/f')).toString()).toBe('first');
  });

  it('refuses keys that could walk out of the store', async () => {
    for (const key of ['../etc/passwd', '/abs', 'orders/../x', 'a\\b', 'orders//x', '', 'orders/x y']) {
      await expect(store.put(key, Buffer.from('x'))).rejects.toThrow(/unsafe blob key/);
      await expect(store.get(key)).rejects.toThrow(/unsafe blob key/);
      await expect(store.exists(key)).rejects.toThrow(/unsafe blob key/);
      await expect(store.delete(key)).rejects.toThrow(/unsafe blob key/);
    }
    await expect(store.deletePrefix('../orders')).rejects.toThrow(/unsafe blob key/);
    expect(await keysUnder('')).not.toContain('abs');
  });
});
