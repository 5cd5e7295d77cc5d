import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { chmodSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as schema from './schema';
import { cacheStatements } from './statement-cache';

export type Db = BetterSQLite3Database<typeof schema> & { $client: Database.Database };

export const migrationsFolder = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

export interface DatabaseOptions {
  /** Statements kept compiled for reuse (256); 0 compiles every query anew, as a baseline to measure against. */
  statementCache?: number;
}

/**
 * Opens (creating if needed) the SQLite database and applies pending migrations.
 * WAL lets HTTP reads go on while a loop writes; synchronous=NORMAL in WAL mode survives a killed
 * process (only a power cut can lose the last commits), which is the failure this service plans for.
 */
export function openDatabase(path: string, options: DatabaseOptions = {}): Db {
  if (path !== ':memory:') keepPrivate(path);
  const sqlite = new Database(path);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const { statementCache = 256 } = options;
  if (statementCache > 0) cacheStatements(sqlite, statementCache);
  const db = drizzle(sqlite, { schema }) as Db;
  migrate(db, { migrationsFolder });
  return db;
}

/**
 * The database holds users' addresses and balances: its folder is made owner-only, and the file is created
 * owner-only (SQLite gives its WAL and shared-memory files the database's mode) or made so, as backups and
 * restores are. An operator's looser mode on a folder made by hand is left alone.
 */
function keepPrivate(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(path, '', { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    try {
      if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
    } catch {
      // Another user's file (a volume made by hand): not the service's to change; it opens it as it is.
    }
  }
}

export { schema };
