import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { link, mkdir, open, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { BackupTarget } from '../config';
import { serviceIsRunning } from '../db/service-lock';
import { listBackups, type OpenBackupPlace } from './target';

/** The restore was refused or the backup is unusable; the message is the one line the operator sees. */
export class RestoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RestoreError';
  }
}

export interface RestoreResult {
  /** The backup restored (a path or `s3://bucket/key`). */
  from: string;
  database: string;
  bytes: number;
  counts: { users: number; orders: number; ledgerEntries: number };
}

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

/**
 * Restores a backup into `dataDir` as its database, refusing when a database is already there.
 * `source` is a backup file, a folder of backups (the newest is taken), or `s3://bucket/key`
 * (`s3://bucket/prefix/` for the newest under a prefix), read with the S3 settings of `s3`.
 * The copy is checked (`PRAGMA integrity_check`, the service's tables present) before it takes the
 * database's name, and that name is claimed without overwriting, so nothing half-restored is ever live.
 */
export async function restoreBackup(
  source: string,
  dataDir: string,
  places: { open: OpenBackupPlace; s3: { region: string; endpoint?: string; forcePathStyle: boolean } },
): Promise<RestoreResult> {
  const database = join(resolve(dataDir), 'service.db');
  // A running service would go on writing to the file it has open, not the restored one, or overwrite it.
  if (serviceIsRunning(dataDir)) throw new RestoreError(`the service is running on ${resolve(dataDir)}: stop it first`);
  for (const path of [database, `${database}-wal`]) {
    if (existsSync(path)) throw new RestoreError(`${path} exists: restore only into a DATA_DIR without a database (move it away first)`);
  }
  const located = await locate(source, places);
  const { from, gzipped } = located;
  await mkdir(dirname(database), { recursive: true });
  const partial = join(dirname(database), `.restore-${randomUUID()}.db`);
  try {
    const input = await located.open();
    // The live database holds users' addresses and balances: owner-only, as the backup was.
    const output = createWriteStream(partial, { mode: 0o600 });
    await (gzipped ? pipeline(input, createGunzip(), output) : pipeline(input, output)).catch((error: Error) => {
      throw new RestoreError(`${from} could not be read: ${error.message}`);
    });
    const counts = await check(partial, from);
    // link() fails when the name exists: a database that appeared meanwhile is never overwritten.
    await link(partial, database).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'EEXIST') throw new RestoreError(`${database} appeared while restoring; left it alone`);
      throw error;
    });
    return { from, database, bytes: (await stat(database)).size, counts };
  } finally {
    for (const path of [partial, `${partial}-wal`, `${partial}-shm`]) await rm(path, { force: true });
  }
}

interface Located {
  from: string;
  open(): Promise<Readable>;
  gzipped: boolean;
}

async function locate(source: string, { open, s3 }: Parameters<typeof restoreBackup>[2]): Promise<Located> {
  if (source.startsWith('s3://')) {
    const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(source);
    const [bucket, key] = [match?.[1] ?? '', match?.[2] ?? ''];
    const target: BackupTarget = { kind: 's3', bucket, prefix: '', ...s3 };
    const place = open(target);
    let chosen = key;
    if (!key || key.endsWith('/') || !(await place.store.exists(key))) {
      const newest = (await listBackups({ ...place, folder: key.replace(/\/+$/, '') }))[0];
      if (!newest) throw new RestoreError(`no backup at ${source}`);
      chosen = newest.key;
    }
    return { from: `s3://${bucket}/${chosen}`, open: () => place.store.get(chosen), gzipped: chosen.endsWith('.gz') };
  }
  const path = resolve(source);
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new RestoreError(`no backup at ${path}`);
  let file = path;
  if (info.isDirectory()) {
    const newest = (await listBackups(open({ kind: 'folder', path })))[0];
    if (!newest) throw new RestoreError(`no backup (service-*.db.gz) in ${path}`);
    file = join(path, newest.key);
  }
  return { from: file, open: async () => createReadStream(file), gzipped: await isGzip(file) };
}

async function isGzip(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

/** Checks that `file` is a sound SQLite database of this service; returns what it holds. */
async function check(file: string, from: string): Promise<RestoreResult['counts']> {
  const handle = await open(file, 'r');
  const { buffer } = await handle.read(Buffer.alloc(16), 0, 16, 0).finally(() => handle.close());
  if (!buffer.equals(SQLITE_HEADER)) throw new RestoreError(`${basename(from)} is not an SQLite database`);
  // Read-write: a database in WAL mode (as backups of this one are) needs its -shm file even to be read.
  const db = new Database(file);
  try {
    const result = db.pragma('integrity_check') as { integrity_check: string }[];
    if (result.length !== 1 || result[0]!.integrity_check !== 'ok') {
      throw new RestoreError(
        `${basename(from)} fails PRAGMA integrity_check: ${result
          .map((r) => r.integrity_check)
          .slice(0, 3)
          .join('; ')}`,
      );
    }
    const tables = new Set(
      (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name),
    );
    for (const table of ['users', 'orders', 'ledger']) {
      if (!tables.has(table)) throw new RestoreError(`${basename(from)} is not a backup of this service (no ${table} table)`);
    }
    const count = (table: string) => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
    return { users: count('users'), orders: count('orders'), ledgerEntries: count('ledger') };
  } finally {
    db.close();
  }
}
