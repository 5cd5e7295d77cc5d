import type { Db } from './index';

/**
 * Runs `work` in one immediate SQLite transaction. better-sqlite3 is synchronous, so nothing else in
 * this process interleaves; IMMEDIATE takes the write lock up front so two processes never deadlock.
 */
export function transaction<T>(db: Db, work: () => T): T {
  return db.$client.transaction(work).immediate();
}
