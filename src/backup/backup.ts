import type Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream';
import { createGzip } from 'node:zlib';
import { removeStale } from '../stale-files';
import { backupName, listBackups, type BackupPlace } from './target';

export interface BackupResult {
  key: string;
  /** Where it went: a path or `s3://bucket/key`. */
  location: string;
  /** Size of the database copy, and of the compressed file stored. */
  databaseBytes: number;
  storedBytes: number;
  takenAt: number;
  durationMs: number;
  /** Older backups removed to keep `keep`. */
  removed: string[];
  /** Leftovers of backups and restores killed midway, removed: working copies and half-stored files. */
  leftovers: string[];
}

export interface BackupOptions {
  /** The open database to copy (the service's own connection, or one opened for the copy). */
  sqlite: Database.Database;
  /** Where the uncompressed copy is made before it is stored: the database's own folder, which has room for it. */
  workDir: string;
  place: BackupPlace;
  /** How many backups to keep in `place`; older ones are removed after this one is stored. */
  keep: number;
  /**
   * Copy everything in one step. Right for a connection of its own (the command line): SQLite restarts a
   * stepwise copy whenever another connection writes, so under steady writes it might never finish; one
   * step is one read transaction, which WAL lets the service's writers run beside. The service's own
   * connection copies in small steps instead: its writes are carried into the copy, and its event loop
   * is never held for long.
   */
  oneStep?: boolean;
  /** Pages per step when not `oneStep`. */
  pagesPerStep?: number;
  now?: () => Date;
}

/**
 * How long a working copy or half-stored backup must lie untouched before it counts as left by a killed run. A run
 * in progress writes to its files all the time; an hour leaves room for a slow disk.
 */
export const LEFTOVER_AGE_MS = 60 * 60 * 1000;

/** Pages per step when copying beside the writers of the same connection (4 MiB with 4 KiB pages). */
const PAGES_PER_STEP = 1024;

/**
 * An online backup: SQLite's backup API copies the live database into a consistent snapshot (every
 * committed transaction up to the moment the copy finished, none half), which is gzipped into `place`
 * under a name carrying the time. Then all but the newest `keep` backups are removed.
 */
export async function takeBackup(options: BackupOptions): Promise<BackupResult> {
  const { sqlite, place, keep } = options;
  const started = Date.now();
  const at = (options.now ?? (() => new Date()))();
  const copy = join(options.workDir, `.backup-${randomUUID()}.db`);
  try {
    // Created empty with owner-only access first: SQLite keeps an existing file's mode when it copies into it.
    await writeFile(copy, '', { mode: 0o600, flag: 'wx' });
    await sqlite.backup(copy, { progress: () => (options.oneStep ? 0x7fffffff : (options.pagesPerStep ?? PAGES_PER_STEP)) });
    const databaseBytes = (await stat(copy)).size;
    const key = place.folder ? `${place.folder}/${backupName(at)}` : backupName(at);
    const gzip = createGzip();
    // The callback form passes a read error on to the store's upload through the gzip stream.
    pipeline(createReadStream(copy), gzip, () => undefined);
    const { bytes } = await place.store.put(key, gzip, { contentType: 'application/gzip' });
    const removed = await pruneBackups(place, keep);
    // A run killed midway (OOM, a container stopped) never reached its `finally`: each left a full-size copy.
    const leftovers = [
      ...(await removeStale(options.workDir, (name) => /^\.(backup|restore)-[\w-]+\.db$/.test(name), LEFTOVER_AGE_MS)),
      ...((await place.store.removeLeftovers?.(place.folder, LEFTOVER_AGE_MS)) ?? []),
    ];
    return {
      key,
      location: place.locate(key),
      databaseBytes,
      storedBytes: bytes,
      takenAt: at.getTime(),
      durationMs: Date.now() - started,
      removed,
      leftovers,
    };
  } finally {
    await rm(copy, { force: true });
  }
}

/** Removes all but the newest `keep` backups in `place`; returns the keys removed. */
export async function pruneBackups(place: BackupPlace, keep: number): Promise<string[]> {
  const old = (await listBackups(place)).slice(Math.max(1, keep));
  for (const backup of old) await place.store.delete(backup.key);
  return old.map((b) => b.key);
}
