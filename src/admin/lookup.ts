import { and, eq, or, sql, type Column } from 'drizzle-orm';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openDatabase, type Db } from '../db';
import { schemaVersion } from '../db/schema-version';
import { serviceIsRunning } from '../db/service-lock';
import { orders, users } from '../db/schema';
import type { Order } from '../orders/lifecycle';
import type { User } from '../users';
import { AdminError } from './errors';

/**
 * Opens the service's database for an operator's command. Never creates one: a wrong `DATA_DIR` is an
 * error, not a new empty service. Safe beside the running service: WAL lets reads run beside its writes,
 * writes are short transactions, and a busy database is waited for (busy timeout) rather than failed.
 */
export function openServiceDatabase(dataDir: string): Db {
  const path = join(dataDir, 'service.db');
  if (!existsSync(path)) throw new AdminError(`no database at ${path} (check DATA_DIR)`);
  refuseMigratingUnderService(dataDir, path);
  return openDatabase(path);
}

/**
 * Opening the database applies this code's pending migrations. Under a running service (an older version,
 * say, with admin from a newer checkout) that would change the schema beneath code that does not know it:
 * refused, naming the version needed. Without a service, admin migrates as the service would at start.
 */
function refuseMigratingUnderService(dataDir: string, path: string): void {
  const sqlite = new Database(path, { readonly: true, fileMustExist: true });
  let version;
  try {
    version = schemaVersion(sqlite);
  } finally {
    sqlite.close();
  }
  if (version.pending.length === 0 || !serviceIsRunning(dataDir)) return;
  throw new AdminError(
    `the database is at schema ${version.current ?? 'none'} and this admin needs ${version.needed}; the service is running on it, so admin will not migrate it: restart the service with this version (it migrates at start), then run admin again`,
  );
}

/** Shortest id prefix accepted, so a typo does not quietly match some other order. */
const MIN_PREFIX = 6;

/** `column` starts with `prefix` (compared as text, so `%` and `_` in it mean nothing special). */
const startsWith = (column: Column, prefix: string) => sql`substr(${column}, 1, ${prefix.length}) = ${prefix}`;

/**
 * The user `ref` names: a user id (or a unique prefix of one), `channel:external-id`
 * (`telegram:12345`, `email:ann@example.com`), or an external id that only one channel has.
 */
export function findUser(db: Db, ref: string): User {
  const byId = db.select().from(users).where(eq(users.id, ref)).get();
  if (byId) return byId;
  const colon = ref.indexOf(':');
  if (colon > 0) {
    const [channel, externalId] = [ref.slice(0, colon), ref.slice(colon + 1)];
    const found = db
      .select()
      .from(users)
      .where(and(eq(users.channel, channel), eq(users.externalId, externalId)))
      .get();
    if (found) return found;
  }
  const matches = db
    .select()
    .from(users)
    .where(or(eq(users.externalId, ref), ref.length >= MIN_PREFIX ? startsWith(users.id, ref) : undefined))
    .limit(10)
    .all();
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) {
    throw new AdminError(
      `'${ref}' matches ${matches.length} users (${matches.map((u) => `${u.channel}:${u.externalId}`).join(', ')}); give the user id or channel:id`,
    );
  }
  throw new AdminError(`unknown user '${ref}'`);
}

/** The order `ref` names: its id or a unique prefix of at least six characters. */
export function findOrder(db: Db, ref: string): Order {
  const exact = db.select().from(orders).where(eq(orders.id, ref)).get();
  if (exact) return exact;
  if (ref.length >= MIN_PREFIX) {
    const matches = db.select().from(orders).where(startsWith(orders.id, ref)).limit(2).all();
    if (matches.length === 1) return matches[0]!;
    if (matches.length > 1) throw new AdminError(`'${ref}' matches several orders; give more of the id`);
  }
  throw new AdminError(`unknown order '${ref}'`);
}
