import { and, eq, sql } from 'drizzle-orm';
import { randomUUID } from 'node:crypto';
import type { Db } from './db';
import { prepared } from './db/prepared';
import { users } from './db/schema';
import type { Ledger } from './ledger';
import type { ChannelName } from './ports/channel';

export type User = typeof users.$inferSelect;

/**
 * Finds the user, creating them on first contact with their one-time grant of free seconds.
 * Call inside a transaction: the user row and the grant are written together.
 */
export function findOrCreateUser(db: Db, ledger: Ledger, channel: ChannelName, externalId: string, freeSeconds: number): User {
  const existing = prepared(db, 'userByExternalId', (d) =>
    d
      .select()
      .from(users)
      .where(and(eq(users.channel, sql.placeholder('channel')), eq(users.externalId, sql.placeholder('externalId'))))
      .prepare(),
  ).get({ channel, externalId });
  if (existing) return existing;
  const user = db.insert(users).values({ id: randomUUID(), channel, externalId }).returning().get();
  if (freeSeconds > 0) ledger.append({ userId: user.id, kind: 'grant', seconds: freeSeconds, key: `grant:${user.id}` });
  return user;
}

/** Sets the Whisper language for the user's next orders; null means auto-detect. */
export function setUserLanguage(db: Db, userId: string, language: string | null): void {
  db.update(users).set({ language }).where(eq(users.id, userId)).run();
}
