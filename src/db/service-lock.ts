import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** The file the running service keeps locked, beside its database. */
export const serviceLockPath = (dataDir: string): string => join(dataDir, 'service.lock');

/** The lock a running service holds on its `DATA_DIR`; `release` lets it go (the service's stop). */
export interface ServiceLock {
  /** False when another process (another service on the same `DATA_DIR`) holds it already. */
  held: boolean;
  release(): void;
}

/**
 * Takes the running service's lock on `dataDir`: an open exclusive transaction on `service.lock`, a small
 * SQLite file. The lock is the operating system's (a POSIX record lock), so it is gone the moment the
 * process is, however it ended (SIGKILL, OOM, power cut), unlike a pid file or a heartbeat row, which
 * would outlive a killed service and read as running. Works across containers sharing the volume.
 */
export function holdServiceLock(dataDir: string): ServiceLock {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const sqlite = new Database(serviceLockPath(dataDir), { fileMustExist: false });
  sqlite.pragma('busy_timeout = 0');
  try {
    sqlite.exec('BEGIN EXCLUSIVE');
  } catch {
    sqlite.close();
    return { held: false, release: () => undefined };
  }
  return {
    held: true,
    release: () => {
      if (sqlite.open) sqlite.close();
    },
  };
}

/** Whether a service holds the lock on `dataDir` now (`npm run admin` and `npm run restore` ask before changing the database). */
export function serviceIsRunning(dataDir: string): boolean {
  let sqlite: Database.Database;
  try {
    sqlite = new Database(serviceLockPath(dataDir), { fileMustExist: true });
  } catch {
    return false; // no lock file: no service ever ran on this DATA_DIR
  }
  try {
    sqlite.pragma('busy_timeout = 0');
    sqlite.exec('BEGIN IMMEDIATE');
    sqlite.exec('ROLLBACK');
    return false;
  } catch (error) {
    if ((error as { code?: string }).code === 'SQLITE_BUSY') return true;
    // Not a lock held by someone but a file this user cannot use: say so rather than guess either way.
    throw new Error(`cannot tell whether the service is running: ${serviceLockPath(dataDir)}: ${(error as Error).message}`);
  } finally {
    sqlite.close();
  }
}
