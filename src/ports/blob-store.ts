import type { Readable } from 'node:stream';

/**
 * Where audio and results live: a local directory by default, S3 when configured.
 * Keys are made by the service from ids (`orders/<orderId>/<fileId>`), never from user file names;
 * implementations still refuse keys with `..`, absolute paths or odd characters.
 */
export interface BlobStore {
  /**
   * Streams `body` to `key`. With `maxBytes`, stops reading as soon as the limit is passed, removes the
   * partial object and throws `BlobTooLargeError`. Resolves with the number of bytes stored.
   */
  put(key: string, body: Readable | Buffer, options?: { maxBytes?: number; contentType?: string }): Promise<{ bytes: number }>;
  /** Opens `key` for reading; throws `BlobNotFoundError` when absent. */
  get(key: string): Promise<Readable>;
  /** Reads a small object whole (results, manifests). */
  getBuffer(key: string): Promise<Buffer>;
  exists(key: string): Promise<boolean>;
  /** Removes `key`; absent is fine. */
  delete(key: string): Promise<void>;
  /** Removes every key under `prefix` (an order's folder). */
  deletePrefix(prefix: string): Promise<void>;
  /** A filesystem path for `key` when the store is local, so tools like ffmpeg can read it in place. */
  localPath?(key: string): string;
  /**
   * Removes what writes into `folder` left behind when their process was killed (a store that leaves such files:
   * the local one), untouched for `olderThanMs`; returns their names.
   */
  removeLeftovers?(folder: string, olderThanMs: number): Promise<string[]>;
}

/** An object found by `list`. */
export interface BlobEntry {
  key: string;
  bytes: number;
}

/** A store that can also list a folder: for tools that keep a few named files there (backups), not for order data. */
export interface ListableBlobStore extends BlobStore {
  /** The objects directly in `folder` (`''` for the top), without sub-folders; an absent folder is empty. */
  list(folder: string): Promise<BlobEntry[]>;
}

export class BlobTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`blob exceeds ${limit} bytes`);
    this.name = 'BlobTooLargeError';
  }
}

export class BlobNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`blob not found: ${key}`);
    this.name = 'BlobNotFoundError';
  }
}
