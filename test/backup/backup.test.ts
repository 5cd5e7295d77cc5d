import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeBackup, type BackupResult } from '../../src/backup/backup';
import { RestoreError, restoreBackup } from '../../src/backup/restore';
import { BackupSchedule } from '../../src/backup/schedule';
import { listBackups, type BackupPlace } from '../../src/backup/target';
import { openBackupPlace as backupPlace } from '../../src/app/backup-place';
import type { BackupTarget } from '../../src/config';
import { silentLogger } from '../../src/log';
import { RecordingPayments } from '../support/recording-payments';
import { ScriptedRunner } from '../support/runners';
import { startS3, type TestS3 } from '../support/s3rver';
import { startTestService, type TestService } from '../support/service';
import { TestChannel } from '../support/test-channel';

/**
 * Backups of the live database: taken while the real service records 200 orders (intake, ledger holds
 * and spends, outbox, dispatcher), restored by the real restore into an empty DATA_DIR, then checked as
 * an operator would: `PRAGMA integrity_check`, and the ledger equal to the source's at the backup point.
 */

const SPEECH = '/usr/share/sounds/alsa/Front_Center.wav'; // 1.43 s, billed as 2 s
const ORDERS = 200;

interface LedgerRow {
  id: number;
  user_id: string;
  kind: string;
  seconds: number;
  key: string;
}

const ledgerRows = (db: Database.Database, maxId = Number.MAX_SAFE_INTEGER): LedgerRow[] =>
  db.prepare('SELECT id, user_id, kind, seconds, key FROM ledger WHERE id <= ? ORDER BY id').all(maxId) as LedgerRow[];

const sums = (rows: LedgerRow[]): Record<string, number> => {
  const out: Record<string, number> = {};
  for (const row of rows) out[row.user_id] = (out[row.user_id] ?? 0) + row.seconds;
  return out;
};

/** Sends 200 orders from 8 users through the running service, in 8 lanes, and resolves when all are recorded. */
async function writeOrders(chat: TestChannel, onRecorded: (count: number) => void): Promise<void> {
  let recorded = 0;
  await Promise.all(
    Array.from({ length: 8 }, async (_, lane) => {
      for (let i = lane; i < ORDERS; i += 8) {
        await chat.receive(chat.message(`user-${lane}`, [SPEECH], `order-${i}`));
        onRecorded(++recorded);
      }
    }),
  );
}

/**
 * What the test checks in a restored backup: it passes the integrity check, its ledger is exactly the
 * source's entries up to its last one (per-user sums included), and every order in it that left
 * `received` has the ledger entries and the reply written in the same transaction.
 */
function expectConsistentSnapshot(restoredPath: string, source: Database.Database): { orders: number; ledger: number } {
  const restored = new Database(restoredPath, { readonly: true });
  try {
    expect(restored.pragma('integrity_check', { simple: true })).toBe('ok');
    const rows = ledgerRows(restored);
    const lastId = rows.at(-1)?.id ?? 0;
    const sourceRows = ledgerRows(source, lastId);
    expect(rows).toEqual(sourceRows);
    expect(sums(rows)).toEqual(sums(sourceRows));
    const keys = new Set(rows.map((r) => r.key));
    const orders = restored.prepare('SELECT id, state, held_seconds FROM orders').all() as {
      id: string;
      state: string;
      held_seconds: number;
    }[];
    const replies = new Set((restored.prepare('SELECT key FROM outbox').all() as { key: string }[]).map((r) => r.key));
    for (const order of orders) {
      if (order.state === 'queued' || order.state === 'running') expect(keys.has(`spend:${order.id}`)).toBe(true);
      if (order.state === 'awaiting_payment' && order.held_seconds > 0) expect(keys.has(`hold:${order.id}`)).toBe(true);
      expect(replies.has(`quote:${order.id}`) || order.state === 'awaiting_payment').toBe(true);
    }
    for (const key of keys) {
      const match = /^(spend|hold):(.+)$/.exec(key);
      if (match) expect(orders.some((o) => o.id === match[2])).toBe(true);
    }
    return { orders: orders.length, ledger: rows.length };
  } finally {
    restored.close();
  }
}

const targets: {
  name: string;
  target: () => Promise<{ target: BackupTarget; s3?: TestS3; folder?: string; restoreFrom: (key: string) => string }>;
}[] = [
  {
    name: 'a folder',
    target: async () => {
      const path = await mkdtemp(join(tmpdir(), 'backups-'));
      return { target: { kind: 'folder', path }, folder: path, restoreFrom: (key) => join(path, key) };
    },
  },
  {
    name: 's3rver',
    target: async () => {
      const s3 = await startS3('backups');
      return {
        s3,
        target: { kind: 's3', bucket: 'backups', prefix: 'db/nightly', region: 'us-east-1', endpoint: s3.endpoint, forcePathStyle: true },
        restoreFrom: (key) => `s3://backups/${key}`,
      };
    },
  },
];

for (const { name, target: makeTarget } of targets) {
  describe(`backups to ${name}`, () => {
    let svc: TestService;
    let place: BackupPlace;
    let s3: TestS3 | undefined;
    let restoreFrom: (key: string) => string;
    const chat = new TestChannel();
    const scratch: string[] = [];
    const s3Settings = () => ({ open: backupPlace, s3: { region: 'us-east-1', endpoint: s3?.endpoint, forcePathStyle: true } });

    beforeAll(async () => {
      const made = await makeTarget();
      s3 = made.s3;
      if (made.folder) scratch.push(made.folder);
      restoreFrom = made.restoreFrom;
      place = backupPlace(made.target);
      if (s3) Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' });
      // 60 free seconds each: the first 30 orders of a user are spent from the balance, the rest wait for payment.
      // Each user sends 25 messages as fast as the service takes them: the per-user flood limit (20 at once,
      // then one every 3 s) would drop some depending on the machine's speed, so it is lifted here.
      svc = await startTestService({
        env: { NEW_USER_FREE_SECONDS: '60', USER_MESSAGES_PER_MINUTE: '1000' },
        channels: [chat],
        runner: new ScriptedRunner('pending'),
        payments: new RecordingPayments(),
      });
    });
    afterAll(async () => {
      await svc?.stop();
      await s3?.stop();
      for (const dir of scratch) await rm(dir, { recursive: true, force: true });
    });

    const emptyDataDir = async () => {
      const dir = await mkdtemp(join(tmpdir(), 'restore-'));
      scratch.push(dir);
      return dir;
    };

    it(`a backup taken while ${ORDERS} orders are written restores to a sound database whose ledger equals the source's at that point`, async () => {
      const source = svc.service.db.$client;
      // Two backups during the writes: on the service's own connection in small steps (the schedule's way,
      // its writes carried into the copy), and on a connection of its own in one step (`npm run backup`'s way).
      const separate = new Database(join(svc.dataDir, 'service.db'));
      separate.pragma('busy_timeout = 5000');
      const backups: Promise<BackupResult>[] = [];
      let ordersWhenStarted = 0;
      await writeOrders(chat, (count) => {
        if (count !== 40) return;
        ordersWhenStarted = svc.orders().length;
        backups.push(
          takeBackup({ sqlite: source, workDir: svc.dataDir, place, keep: 10, pagesPerStep: 2, now: () => new Date(Date.UTC(2026, 0, 1)) }),
        );
        backups.push(
          takeBackup({ sqlite: separate, workDir: svc.dataDir, place, keep: 10, oneStep: true, now: () => new Date(Date.UTC(2026, 0, 2)) }),
        );
      });
      const taken = await Promise.all(backups);
      separate.close();
      expect(ordersWhenStarted).toBeLessThan(ORDERS);
      expect(svc.orders()).toHaveLength(ORDERS);
      expect((await listBackups(place)).map((b) => b.key)).toEqual(taken.map((b) => b.key).reverse());

      for (const backup of taken) {
        const dataDir = await emptyDataDir();
        const restored = await restoreBackup(restoreFrom(backup.key), dataDir, s3Settings());
        expect(restored.database).toBe(join(dataDir, 'service.db'));
        const snapshot = expectConsistentSnapshot(restored.database, source);
        expect(snapshot.orders).toBe(restored.counts.orders);
        // A snapshot from the middle of the writes, not from before or after them.
        expect(snapshot.orders).toBeGreaterThanOrEqual(ordersWhenStarted);
        expect(snapshot.orders).toBeLessThan(ORDERS);
        expect(snapshot.ledger).toBeGreaterThan(0);
      }
      // The whole database, once the writes are over: every entry there.
      const final = await takeBackup({ sqlite: source, workDir: svc.dataDir, place, keep: 10, now: () => new Date(Date.UTC(2026, 0, 3)) });
      const dataDir = await emptyDataDir();
      const restored = await restoreBackup(restoreFrom(final.key), dataDir, s3Settings());
      expect(expectConsistentSnapshot(restored.database, source)).toEqual({ orders: ORDERS, ledger: ledgerRows(source).length });
      // The service opens the restored database (its migrations already applied) and sees the same balances.
      const check = new Database(restored.database, { readonly: true });
      expect(sums(ledgerRows(check))).toEqual(sums(ledgerRows(source)));
      check.close();
      // No copy left behind in the data folder.
      expect((await readdir(svc.dataDir)).filter((f) => f.startsWith('.backup-'))).toEqual([]);
    });

    it('keeps the newest BACKUP_KEEP backups, and restoring a folder or prefix takes the newest', async () => {
      for (let day = 10; day < 15; day++) {
        await takeBackup({
          sqlite: svc.service.db.$client,
          workDir: svc.dataDir,
          place,
          keep: 3,
          now: () => new Date(Date.UTC(2026, 0, day, 6)),
        });
      }
      const kept = await listBackups(place);
      expect(kept.map((b) => b.key.split('/').pop())).toEqual([
        'service-20260114T060000Z.db.gz',
        'service-20260113T060000Z.db.gz',
        'service-20260112T060000Z.db.gz',
      ]);
      const folder = s3 ? 's3://backups/db/nightly/' : place.label;
      const restored = await restoreBackup(folder, await emptyDataDir(), s3Settings());
      expect(restored.from).toBe(place.locate(kept[0]!.key));
    });

    it('refuses to restore over a database, or from something that is not a backup of this service', async () => {
      const [newest] = await listBackups(place);
      const occupied = await emptyDataDir();
      await writeFile(join(occupied, 'service.db'), 'precious');
      await expect(restoreBackup(restoreFrom(newest!.key), occupied, s3Settings())).rejects.toThrow(/service\.db exists/);
      expect(await readdir(occupied)).toEqual(['service.db']);

      const other = await emptyDataDir();
      const notOurs = join(other, 'other.db');
      const foreign = new Database(notOurs);
      foreign.exec('CREATE TABLE notes (body TEXT)');
      foreign.close();
      const target = await emptyDataDir();
      await expect(restoreBackup(notOurs, target, s3Settings())).rejects.toThrow(RestoreError);
      await expect(restoreBackup('/etc/hostname', target, s3Settings())).rejects.toThrow(/not an SQLite database/);
      expect(existsSync(join(target, 'service.db'))).toBe(false);
    });
  });
}

describe('the backup schedule', () => {
  it('takes a backup when the newest is older than the interval, and a restart does not take another', async () => {
    const path = await mkdtemp(join(tmpdir(), 'scheduled-'));
    const dataDir = await mkdtemp(join(tmpdir(), 'scheduled-db-'));
    const sqlite = new Database(join(dataDir, 'service.db'));
    sqlite.exec('CREATE TABLE t (x)');
    const place = backupPlace({ kind: 'folder', path });
    const schedule = () => new BackupSchedule({ sqlite, workDir: dataDir, place, intervalMs: 60 * 60_000, keep: 5, log: silentLogger });
    try {
      expect(await schedule().tick()).toBeDefined();
      expect(await schedule().tick()).toBeUndefined();
      const running = schedule();
      expect(await running.tick()).toBeUndefined();
      expect(await listBackups(place)).toHaveLength(1);
    } finally {
      sqlite.close();
      await rm(path, { recursive: true, force: true });
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});

describe('backups that went wrong before', () => {
  const scratch = async () => {
    const path = await mkdtemp(join(tmpdir(), 'leftover-backups-'));
    const dataDir = await mkdtemp(join(tmpdir(), 'leftover-db-'));
    const sqlite = new Database(join(dataDir, 'service.db'));
    sqlite.exec('CREATE TABLE t (x)');
    const place = backupPlace({ kind: 'folder', path });
    const done = async () => {
      sqlite.close();
      await rm(path, { recursive: true, force: true });
      await rm(dataDir, { recursive: true, force: true });
    };
    return { path, dataDir, sqlite, place, done };
  };

  it('a backup named after the present (the clock was ahead) does not stop the schedule, and a restart takes no second one', async () => {
    const { dataDir, sqlite, place, done } = await scratch();
    const schedule = () => new BackupSchedule({ sqlite, workDir: dataDir, place, intervalMs: 6 * 60 * 60_000, keep: 5, log: silentLogger });
    try {
      await takeBackup({ sqlite, workDir: dataDir, place, keep: 5, now: () => new Date(Date.now() + 365 * 86_400_000) });
      expect(await schedule().tick()).toBeDefined();
      expect(await schedule().tick()).toBeUndefined();
      expect(await listBackups(place)).toHaveLength(2);
    } finally {
      await done();
    }
  });

  it('removes the working copies and half-stored files of runs killed midway, never those of a run still going', async () => {
    const { path, dataDir, sqlite, place, done } = await scratch();
    try {
      const twoHoursAgo = new Date(Date.now() - 2 * 60 * 60_000);
      const killed = ['.backup-0b1d.db', '.restore-77aa.db'];
      for (const name of killed) {
        await writeFile(join(dataDir, name), Buffer.alloc(4096));
        await utimes(join(dataDir, name), twoHoursAgo, twoHoursAgo);
      }
      const halfStored = 'service-20261201T000000Z.db.gz.5e6f.partial';
      await writeFile(join(path, halfStored), Buffer.alloc(1024));
      await utimes(join(path, halfStored), twoHoursAgo, twoHoursAgo);
      await writeFile(join(dataDir, '.backup-running.db'), Buffer.alloc(4096)); // another run's copy, written just now

      const result = await takeBackup({ sqlite, workDir: dataDir, place, keep: 5 });
      expect(result.leftovers.sort()).toEqual([...killed, halfStored].sort());
      expect((await readdir(dataDir)).sort()).toEqual(['.backup-running.db', 'service.db']);
      expect(await readdir(path)).toEqual([result.key]);
    } finally {
      await done();
    }
  });
});

describe('npm run backup and npm run restore', () => {
  it('back up a live database and restore it into an empty DATA_DIR, with one-line refusals and exit codes', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cli-db-'));
    const backups = await mkdtemp(join(tmpdir(), 'cli-backups-'));
    const target = await mkdtemp(join(tmpdir(), 'cli-restore-'));
    try {
      const svc = await startTestService({ env: { NEW_USER_FREE_SECONDS: '60' }, channels: [], runner: new ScriptedRunner('pending') });
      const db = new Database(join(svc.dataDir, 'service.db'));
      db.prepare("INSERT INTO users (id, channel, external_id) VALUES ('u1', 'test', 'ann')").run();
      db.prepare("INSERT INTO ledger (user_id, kind, seconds, key) VALUES ('u1', 'grant', 60, 'grant:u1')").run();
      db.close();
      const run = (script: string, args: string[], env: Record<string, string>) =>
        spawnSync('npm', ['run', '--silent', script, '--', ...args], { env: { ...process.env, ...env }, encoding: 'utf8' });

      const backup = run('backup', [], { DATA_DIR: svc.dataDir, BACKUP_TO: backups });
      expect(backup.stderr).toBe('');
      expect(backup.status).toBe(0);
      expect(backup.stdout).toMatch(
        new RegExp(
          `^backed up ${svc.dataDir}/service\\.db \\(.+\\) to ${backups}/service-\\d{8}T\\d{6}Z\\.db\\.gz \\(.+ gzipped\\) in [\\d.]+ s\\n$`,
        ),
      );
      await svc.stop();
      // The whole database (users' addresses, balances) in a file: readable by the service's user alone.
      const [written] = await readdir(backups);
      expect((await stat(join(backups, written!))).mode & 0o777).toBe(0o600);

      const restore = run('restore', [backups], { DATA_DIR: target });
      expect(restore.status).toBe(0);
      expect((await stat(join(target, 'service.db'))).mode & 0o777).toBe(0o600);
      expect(restore.stdout).toMatch(/^restored .+\.db\.gz to .+service\.db \(.+; integrity ok; 1 users, 0 orders, 1 ledger entries\)\n$/);
      const again = run('restore', [backups], { DATA_DIR: target });
      expect(again.status).toBe(1);
      expect(again.stderr).toBe(
        `restore refused: ${target}/service.db exists: restore only into a DATA_DIR without a database (move it away first)\n`,
      );
      const usage = run('restore', [], { DATA_DIR: target });
      expect(usage.status).toBe(2);
      expect(usage.stderr).toMatch(/^usage: /);
      const noDb = run('backup', [], { DATA_DIR: dataDir, BACKUP_TO: backups });
      expect(noDb.status).toBe(1);
      expect(noDb.stderr).toBe(`no database at ${dataDir}/service.db (check DATA_DIR)\n`);
    } finally {
      for (const dir of [dataDir, backups, target]) await rm(dir, { recursive: true, force: true });
    }
  });
});
