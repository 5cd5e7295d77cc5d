import type { Db } from './index';

/** One transaction wrapper per database: better-sqlite3 builds four wrapper functions for every `transaction()` call. */
const runners = new WeakMap<Db, { immediate: (work: () => unknown) => unknown }>();

/**
 * Runs `work` in one immediate SQLite transaction. better-sqlite3 is synchronous, so nothing else in
 * this process interleaves; IMMEDIATE takes the write lock up front so two processes never deadlock.
 * Called inside another, it runs in a savepoint of the outer one.
 */
export function transaction<T>(db: Db, work: () => T): T {
  let runner = runners.get(db);
  if (!runner) runners.set(db, (runner = db.$client.transaction((inner: () => unknown) => inner())));
  return runner.immediate(work) as T;
}
