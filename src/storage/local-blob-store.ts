import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { randomUUID } from 'node:crypto';
import { BlobNotFoundError, BlobTooLargeError, type BlobEntry, type ListableBlobStore } from '../ports/blob-store';
import { removeStale } from '../stale-files';
import { assertSafeKey } from './keys';

/** A `BlobStore` in a local directory. Writes go to a temporary name and are renamed, so a crash never leaves half a file under a real key. */
export class LocalBlobStore implements ListableBlobStore {
  readonly root: string;
  private readonly fileMode: number | undefined;

  /** `fileMode`: the permission bits of files written (before the umask); the default is the system's. */
  constructor(root: string, options: { fileMode?: number } = {}) {
    this.root = resolve(root);
    this.fileMode = options.fileMode;
  }

  localPath(key: string): string {
    return join(this.root, assertSafeKey(key));
  }

  async put(key: string, body: Readable | Buffer, options: { maxBytes?: number } = {}): Promise<{ bytes: number }> {
    const target = this.localPath(key);
    await mkdir(dirname(target), { recursive: true });
    const temporary = `${target}.${randomUUID()}.partial`;
    const limit = options.maxBytes ?? Number.POSITIVE_INFINITY;
    let bytes = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        bytes += chunk.length;
        if (bytes > limit) done(new BlobTooLargeError(limit));
        else done(null, chunk);
      },
    });
    const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
    try {
      await pipeline(source, counter, createWriteStream(temporary, { mode: this.fileMode }));
      await rename(temporary, target);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
    return { bytes };
  }

  async get(key: string): Promise<Readable> {
    const path = this.localPath(key);
    try {
      await stat(path);
    } catch {
      throw new BlobNotFoundError(key);
    }
    return createReadStream(path);
  }

  async getBuffer(key: string): Promise<Buffer> {
    try {
      return await readFile(this.localPath(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new BlobNotFoundError(key);
      throw error;
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await stat(this.localPath(key));
      return true;
    } catch {
      return false;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.localPath(key), { force: true });
  }

  async deletePrefix(prefix: string): Promise<void> {
    await rm(this.localPath(prefix.replace(/\/+$/, '')), { recursive: true, force: true });
  }

  async removeLeftovers(folder: string, olderThanMs: number): Promise<string[]> {
    const prefix = folder.replace(/\/+$/, '');
    return removeStale(prefix ? this.localPath(prefix) : this.root, (name) => name.endsWith('.partial'), olderThanMs);
  }

  async list(folder: string): Promise<BlobEntry[]> {
    const prefix = folder.replace(/\/+$/, '');
    const directory = prefix ? this.localPath(prefix) : this.root;
    const entries = await readdir(directory, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    });
    const listed: BlobEntry[] = [];
    for (const entry of entries) {
      // Half-written files (see `put`) are not objects yet.
      if (!entry.isFile() || entry.name.endsWith('.partial')) continue;
      const key = prefix ? `${prefix}/${entry.name}` : entry.name;
      listed.push({ key, bytes: (await stat(join(directory, entry.name))).size });
    }
    return listed;
  }
}
