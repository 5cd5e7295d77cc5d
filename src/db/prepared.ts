import type { Db } from './index';

const cache = new WeakMap<Db, Map<string, unknown>>();

/**
 * A query prepared once per database and reused: for the statements every message runs, where
 * building the SQL and preparing it again each time cost more than running it.
 */
export function prepared<T>(db: Db, name: string, build: (db: Db) => T): T {
  let byName = cache.get(db);
  if (!byName) cache.set(db, (byName = new Map<string, unknown>()));
  if (!byName.has(name)) byName.set(name, build(db));
  return byName.get(name) as T;
}
