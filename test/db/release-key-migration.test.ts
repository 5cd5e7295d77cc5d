import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ledger } from '../../src/db/schema';
import { MoneyDesk } from '../support/money-desk';

/**
 * Databases written before held seconds had their own ledger key: a hold's return was `refund:<order>`,
 * the failure refund's key. The migration renames those, so an order expired before the upgrade and paid
 * late after it is still refunded in full should it fail.
 */
const migrations = join(import.meta.dirname, '../../src/db/migrations');

describe('the release-key migration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'release-key-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("renames a hold's old return to its own key and leaves failure refunds as they were", async () => {
    const file = join(dir, 'service.db');
    const before = new MoneyDesk(file);
    const user = before.user(100);
    // Expired, then paid late: running when the service is upgraded.
    const late = before.send(user, [300]);
    await before.expire(late.id);
    await before.pay(late.id, `cs_${late.id}`, 50);
    before.start(late.id);
    // Paid, then failed: its refund is a failure refund.
    const failed = before.send(before.user(100), [200]);
    await before.pay(failed.id, `cs_${failed.id}`, 50);
    before.start(failed.id);
    before.finish(failed.id, [0]);
    // Expired and never paid.
    const unpaid = before.send(before.user(10), [100]);
    await before.expire(unpaid.id);
    // What the old code wrote; then the migration's SQL, as the upgrade runs it.
    const sqlite = before.db.$client;
    sqlite.prepare(`UPDATE ledger SET key = 'refund:' || order_id WHERE key = 'release:' || order_id`).run();
    const legacyKeys = before.db.select({ key: ledger.key }).from(ledger).all();
    expect(legacyKeys.filter((k) => k.key.startsWith('release:'))).toEqual([]);
    sqlite.exec(
      readFileSync(
        join(
          migrations,
          readdirSync(migrations).find((f) => f.endsWith('_release_hold_key.sql'))!,
        ),
        'utf8',
      ),
    );
    sqlite.close();

    const after = new MoneyDesk(file);
    const keys = after.db
      .select({ key: ledger.key })
      .from(ledger)
      .all()
      .map((k) => k.key);
    expect(keys).toEqual(expect.arrayContaining([`release:${late.id}`, `release:${unpaid.id}`, `refund:${failed.id}`]));
    expect(keys).not.toContain(`refund:${late.id}`);
    expect(keys).not.toContain(`refund:${unpaid.id}`);

    const balance = after.ledger.balance(late.userId);
    expect(after.finish(late.id, [0])).toBe('failed');
    expect(after.ledger.balance(late.userId)).toBe(balance + 300);
    after.db.$client.close();
  });
});
