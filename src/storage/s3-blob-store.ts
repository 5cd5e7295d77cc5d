import { pipeline, Readable, Transform } from 'node:stream';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { BlobNotFoundError, BlobTooLargeError, type BlobEntry, type ListableBlobStore } from '../ports/blob-store';
import { assertSafeKey } from './keys';

export interface S3BlobStoreOptions {
  bucket: string;
  region: string;
  /** An S3-compatible endpoint (MinIO, a test server); AWS's own when absent. */
  endpoint?: string;
  forcePathStyle?: boolean;
  /** Bytes per multipart part; memory held by one upload is about `partSize * queueSize`. */
  partSize?: number;
  /** Parts uploaded side by side. */
  queueSize?: number;
  /** A ready client (tests, custom credentials); built from the options and the SDK's default credential chain otherwise. */
  client?: S3Client;
}

/** S3 refuses multipart parts below 5 MiB (except the last). */
const MIN_PART_SIZE = 5 * 1024 * 1024;
/** S3 allows at most this many keys in one DeleteObjects call. */
const DELETE_BATCH = 1000;

/**
 * A `BlobStore` in an S3 bucket. Uploads stream as multipart uploads of unknown length, so memory stays at
 * a few parts whatever the file's size; the size limit is enforced while the bytes flow, and an upload
 * that passes it is aborted so no object and no orphaned parts remain. There is no `localPath`:
 * readers stream or copy.
 */
export class S3BlobStore implements ListableBlobStore {
  readonly client: S3Client;
  readonly bucket: string;
  private readonly partSize: number;
  private readonly queueSize: number;

  constructor(options: S3BlobStoreOptions) {
    this.bucket = options.bucket;
    this.partSize = Math.max(options.partSize ?? 8 * 1024 * 1024, MIN_PART_SIZE);
    this.queueSize = options.queueSize ?? 2;
    this.client = options.client ?? new S3Client(s3ClientConfig(options));
  }

  async put(key: string, body: Readable | Buffer, options: { maxBytes?: number; contentType?: string } = {}): Promise<{ bytes: number }> {
    assertSafeKey(key);
    const limit = options.maxBytes ?? Number.POSITIVE_INFINITY;
    if (Buffer.isBuffer(body)) {
      if (body.length > limit) throw new BlobTooLargeError(limit);
    }
    let bytes = 0;
    let overflow = false;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        if (bytes > limit) {
          overflow = true;
          done(new BlobTooLargeError(limit));
        } else done(null, chunk);
      },
    });
    const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
    // The callback form destroys the source too when the limit trips, so the sender stops at once.
    pipeline(source, counter, () => undefined);
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: key, Body: counter, ContentType: storableType(options.contentType) },
      partSize: this.partSize,
      queueSize: this.queueSize,
    });
    try {
      await upload.done();
    } catch (error) {
      counter.destroy();
      // Upload.done() already aborted the multipart upload; its own abort error must not hide the real cause.
      if (overflow) throw new BlobTooLargeError(limit);
      throw error;
    }
    return { bytes };
  }

  async get(key: string): Promise<Readable> {
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: assertSafeKey(key) }));
      return response.Body as Readable;
    } catch (error) {
      if (isNotFound(error)) throw new BlobNotFoundError(key);
      throw error;
    }
  }

  async getBuffer(key: string): Promise<Buffer> {
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: assertSafeKey(key) }));
      return Buffer.from(await response.Body!.transformToByteArray());
    } catch (error) {
      if (isNotFound(error)) throw new BlobNotFoundError(key);
      throw error;
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: assertSafeKey(key) }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    // S3 answers 204 for an absent key, which is what the port asks for.
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: assertSafeKey(key) }));
  }

  async deletePrefix(prefix: string): Promise<void> {
    // A trailing slash so `orders/1` never takes `orders/10` with it.
    const folder = `${assertSafeKey(prefix.replace(/\/+$/, ''))}/`;
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: folder, ContinuationToken: token, MaxKeys: DELETE_BATCH }),
      );
      const keys = (page.Contents ?? []).map((o) => o.Key).filter((k): k is string => !!k);
      if (keys.length > 0) {
        const result = await this.client.send(
          new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } }),
        );
        const failed = result.Errors ?? [];
        if (failed.length > 0) throw new Error(`could not delete ${failed.length} objects under ${folder}: ${failed[0].Code ?? 'unknown'}`);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async list(folder: string): Promise<BlobEntry[]> {
    const trimmed = folder.replace(/\/+$/, '');
    const prefix = trimmed ? `${assertSafeKey(trimmed)}/` : '';
    const listed: BlobEntry[] = [];
    let token: string | undefined;
    do {
      // The delimiter keeps sub-folders out, as a directory listing would.
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) if (object.Key) listed.push({ key: object.Key, bytes: object.Size ?? 0 });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return listed;
  }
}

/** The S3 client settings for the store: credentials come from the SDK's default chain (environment, profile, role). */
export function s3ClientConfig(options: Pick<S3BlobStoreOptions, 'region' | 'endpoint' | 'forcePathStyle'>): S3ClientConfig {
  return {
    region: options.region,
    endpoint: options.endpoint,
    forcePathStyle: options.forcePathStyle ?? false,
    // S3-compatible servers often do not understand the newer default trailing checksums (aws-chunked bodies)
    // and would store the framing as content; AWS itself keeps its defaults.
    ...(options.endpoint
      ? { requestChecksumCalculation: 'WHEN_REQUIRED' as const, responseChecksumValidation: 'WHEN_REQUIRED' as const }
      : {}),
  };
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

/**
 * The sender's declared type when it is a plain `type/subtype` (parameters dropped), else none: it comes from
 * the sender's client, and a character a header may not carry made the SDK throw and fail the whole message.
 */
export function storableType(declared: string | undefined): string | undefined {
  const type = declared?.split(';')[0]?.trim();
  return type && /^[\w.+-]+\/[\w.+-]+$/.test(type) ? type.toLowerCase() : undefined;
}
