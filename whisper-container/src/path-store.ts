import { createReadStream } from 'node:fs';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { BlobNotFoundError, type BlobStore } from '../../src/ports/blob-store';

/**
 * A `BlobStore` over files the user named on the command line: each key maps to one path. Lets the CLI run the
 * very same `runJob` as the service on files whose names (spaces, accents) a real store's keys would refuse,
 * reading audio in place and writing each result beside its input.
 */
export class PathBlobStore implements BlobStore {
  constructor(private readonly paths: Map<string, string>) {}

  localPath(key: string): string {
    const path = this.paths.get(key);
    if (!path) throw new BlobNotFoundError(key);
    return path;
  }

  async put(key: string, body: Readable | Buffer): Promise<{ bytes: number }> {
    if (!Buffer.isBuffer(body)) throw new Error('PathBlobStore only writes results (buffers)');
    const target = this.localPath(key);
    const temporary = `${target}.${randomUUID()}.partial`;
    await writeFile(temporary, body);
    await rename(temporary, target);
    return { bytes: body.length };
  }

  async get(key: string): Promise<Readable> {
    if (!(await this.exists(key))) throw new BlobNotFoundError(key);
    return createReadStream(this.localPath(key));
  }

  async getBuffer(key: string): Promise<Buffer> {
    return readFile(this.localPath(key));
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.localPath(key))).isFile();
    } catch {
      return false;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.localPath(key), { force: true });
  }

  async deletePrefix(): Promise<void> {
    throw new Error('PathBlobStore does not delete folders');
  }
}
