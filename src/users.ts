import { and, eq, sql } from 'drizzle-orm';
import { randomUUID } from 'node:crypto';
import type { Db } from './db';
import { transcriptFormats, type TranscriptFormat } from './formats';
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

/** Sets whether the user's next recordings are translated into English. */
export function setUserTranslate(db: Db, userId: string, translate: boolean): void {
  db.update(users).set({ translate }).where(eq(users.id, userId)).run();
}

/** The files a transcript comes with unless the user chose others: timings as JSON, and subtitles. */
export const defaultFormats: readonly TranscriptFormat[] = ['json', 'srt'];

/** Sets the files the user's next transcripts come with; null restores the default set. */
export function setUserFormats(db: Db, userId: string, formats: readonly TranscriptFormat[] | null): void {
  db.update(users)
    .set({ formats: formats ? formats.join(',') : null })
    .where(eq(users.id, userId))
    .run();
}

/** The formats stored with a user or an order (`srt,vtt`), in the order of `transcriptFormats`; null gives the default set. */
export function storedFormats(value: string | null): TranscriptFormat[] {
  if (value === null) return [...defaultFormats];
  const chosen = new Set(value.split(','));
  return transcriptFormats.filter((format) => chosen.has(format));
}
