import type Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { migrationsFolder } from '.';

export interface SchemaVersion {
  /** The newest migration applied to the database; null for an empty one. */
  current: string | null;
  /** The newest migration this code has: what it needs the database to be at. */
  needed: string;
  /** Migrations this code would apply when it opens the database. */
  pending: string[];
}

/**
 * Where the database's schema stands against this code's migrations, read without changing anything:
 * drizzle applies every migration newer than the newest one recorded in `__drizzle_migrations`.
 */
export function schemaVersion(sqlite: Database.Database): SchemaVersion {
  const journal = JSON.parse(readFileSync(join(migrationsFolder, 'meta', '_journal.json'), 'utf8')) as {
    entries: { when: number; tag: string }[];
  };
  const table = sqlite.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '__drizzle_migrations'").get();
  const last = table ? (sqlite.prepare('SELECT max(created_at) AS at FROM __drizzle_migrations').get() as { at: number | null }).at : null;
  const applied = journal.entries.filter((e) => last !== null && e.when <= last);
  return {
    current: applied.at(-1)?.tag ?? null,
    needed: journal.entries.at(-1)!.tag,
    pending: journal.entries.filter((e) => last === null || e.when > last).map((e) => e.tag),
  };
}
