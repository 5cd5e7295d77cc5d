import { and, eq, sql } from 'drizzle-orm';
import { randomUUID } from 'node:crypto';
import type { Db } from './db';
import { transcriptFormats, type TranscriptFormat } from './formats';
import { prepared } from './db/prepared';
import { emailBudgetDomain, isFreeMailProvider } from './email-identity';
import { ledger, users } from './db/schema';
import type { Ledger } from './ledger';
import type { ChannelName } from './ports/channel';

export type User = typeof users.$inferSelect;

/**
 * Who gets free seconds on first contact. Identities are cheap (a domain can mint addresses, a script can
 * make Discord accounts), so the grant is withheld from a Discord account younger than `discordMinAccountAgeMs`
 * and from an email address whose registrable domain already had `perEmailDomainPerDay` grants in the last 24 hours
 * (`perFreeMailProviderPerDay` for the large free providers, which millions share).
 * Such a user is still served, and pays from the first second.
 */
export interface GrantPolicy {
  freeSeconds: number;
  /** Grants per email domain per rolling 24 hours; 0 means no limit. */
  perEmailDomainPerDay: number;
  /** Grants per large free mail provider (gmail.com, ...) per rolling 24 hours; 0 means no limit. */
  perFreeMailProviderPerDay: number;
  /** Discord accounts younger than this get no grant; 0 means any age. */
  discordMinAccountAgeMs: number;
  now?: () => number;
}

/** Discord ids are snowflakes: milliseconds since 2015-01-01 in the bits above the 22nd. */
const DISCORD_EPOCH_MS = 1_420_070_400_000;

/** When a Discord account was made, from its id; undefined when the id is not a snowflake. */
export function discordAccountCreatedAt(id: string): number | undefined {
  if (!/^\d{15,20}$/.test(id)) return undefined;
  return Number(BigInt(id) >> 22n) + DISCORD_EPOCH_MS;
}

/** Grants since `since` to email users of `domain` or any of its subdomains (the domain after the address's last `@`). */
function emailGrantsSince(db: Db, domain: string, since: number): number {
  const escaped = domain.replace(/[\\%_]/g, (c) => `\\${c}`);
  const row = db.get<{ grants: number }>(sql`
    select count(*) as grants from ${ledger} join ${users} on ${users.id} = ${ledger.userId}
    where ${ledger.kind} = 'grant' and ${ledger.seconds} > 0 and ${users.channel} = 'email'
      and (lower(${users.externalId}) like ${`%@${escaped}`} escape '\\' or lower(${users.externalId}) like ${`%@%.${escaped}`} escape '\\')
      and ${ledger.createdAt} >= ${since}`);
  return row?.grants ?? 0;
}

/** The free seconds a new user with this identity gets under `policy`. */
function grantFor(db: Db, channel: ChannelName, externalId: string, policy: GrantPolicy): number {
  const now = (policy.now ?? Date.now)();
  if (channel === 'discord' && policy.discordMinAccountAgeMs > 0) {
    const created = discordAccountCreatedAt(externalId);
    if (created === undefined || now - created < policy.discordMinAccountAgeMs) return 0;
  }
  if (channel === 'email') {
    const domain = emailBudgetDomain(externalId);
    const cap = isFreeMailProvider(domain) ? policy.perFreeMailProviderPerDay : policy.perEmailDomainPerDay;
    if (cap > 0 && emailGrantsSince(db, domain, now - 86_400_000) >= cap) return 0;
  }
  return policy.freeSeconds;
}

/** The ledger key of a user's one-time grant: at most one per user, and its presence says they got free seconds. */
export const grantKey = (userId: string): string => `grant:${userId}`;

/**
 * Finds the user, creating them on first contact with their one-time grant of free seconds (as
 * `policy` allows; a plain number grants that many to everyone). Call inside a transaction: the user
 * row and the grant are written together.
 */
export function findOrCreateUser(db: Db, ledgerBook: Ledger, channel: ChannelName, externalId: string, policy: number | GrantPolicy): User {
  const existing = prepared(db, 'userByExternalId', (d) =>
    d
      .select()
      .from(users)
      .where(and(eq(users.channel, sql.placeholder('channel')), eq(users.externalId, sql.placeholder('externalId'))))
      .prepare(),
  ).get({ channel, externalId });
  if (existing) return existing;
  const grants =
    typeof policy === 'number'
      ? { freeSeconds: policy, perEmailDomainPerDay: 0, perFreeMailProviderPerDay: 0, discordMinAccountAgeMs: 0 }
      : policy;
  const freeSeconds = grantFor(db, channel, externalId, grants);
  const user = db.insert(users).values({ id: randomUUID(), channel, externalId }).returning().get();
  if (freeSeconds > 0) ledgerBook.append({ userId: user.id, kind: 'grant', seconds: freeSeconds, key: grantKey(user.id) });
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
