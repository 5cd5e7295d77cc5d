import Database from 'better-sqlite3';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { afterAll, describe, expect, it } from 'vitest';
import { runAdmin } from '../../src/admin/cli';
import { adminTools } from '../../src/app/admin-tools';
import { migrationsFolder } from '../../src/db';
import { ScriptedRunner } from '../support/runners';
import { startTestService } from '../support/service';

/**
 * The operator's commands beside a running service: admin opens the database (which would apply its
 * pending migrations) and restore replaces it. Neither may do that under a running service; a killed
 * service (SIGKILL) holds nothing, so the commands work again at once.
 */

const journal = JSON.parse(readFileSync(join(migrationsFolder, 'meta', '_journal.json'), 'utf8')) as {
  entries: { tag: string }[];
};
const tags = journal.entries.map((e) => e.tag);
const scratch: string[] = [];
afterAll(async () => {
  for (const dir of scratch) await rm(dir, { recursive: true, force: true });
});
const tempDir = async (prefix: string) => {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  scratch.push(dir);
  return dir;
};

/** A DATA_DIR whose database was made by the previous version: every migration but the newest applied. */
async function previousVersionDataDir(): Promise<string> {
  const folder = await tempDir('previous-migrations-');
  cpSync(migrationsFolder, folder, { recursive: true });
  const older = { ...journal, entries: journal.entries.slice(0, -1) };
  writeFileSync(join(folder, 'meta', '_journal.json'), JSON.stringify(older));
  const dataDir = await tempDir('previous-data-');
  const sqlite = new Database(join(dataDir, 'service.db'));
  migrate(drizzle(sqlite), { migrationsFolder: folder });
  sqlite.close();
  return dataDir;
}

/**
 * The previous version's service on `dataDir`, as far as the lock goes: a process of its own that takes the
 * service's lock as `npm start` does and then just runs. Resolves once it holds it.
 */
async function runningService(dataDir: string): Promise<ChildProcess> {
  const code = `import { holdServiceLock } from './src/db/service-lock.ts';
    const lock = holdServiceLock(process.argv[1]);
    console.log(lock.held ? 'held' : 'busy');
    setInterval(() => {}, 60_000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code, dataDir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const first = await new Promise<string>((resolve) => child.stdout!.once('data', (chunk: Buffer) => resolve(chunk.toString().trim())));
  expect(first).toBe('held');
  return child;
}

const schemaOf = (dataDir: string) => {
  const sqlite = new Database(join(dataDir, 'service.db'), { readonly: true });
  try {
    return (sqlite.prepare('SELECT count(*) AS n FROM __drizzle_migrations').get() as { n: number }).n;
  } finally {
    sqlite.close();
  }
};

describe('admin and restore beside a running service', () => {
  it('admin refuses to migrate the database of a running service, naming the version it needs; once the service is killed, it migrates', async () => {
    const dataDir = await previousVersionDataDir();
    const service = await runningService(dataDir);
    try {
      const refused = await runAdmin(['users'], { DATA_DIR: dataDir }, adminTools);
      expect(refused).toEqual({
        code: 1,
        stdout: '',
        stderr: `admin: the database is at schema ${tags.at(-2)} and this admin needs ${tags.at(-1)}; the service is running on it, so admin will not migrate it: restart the service with this version (it migrates at start), then run admin again\n`,
      });
      expect(schemaOf(dataDir)).toBe(tags.length - 1);
    } finally {
      service.kill('SIGKILL');
      await new Promise((resolve) => service.once('exit', resolve));
    }
    // Killed, not stopped: its lock went with it.
    const done = await runAdmin(['users'], { DATA_DIR: dataDir }, adminTools);
    expect([done.code, done.stderr]).toEqual([0, '']);
    expect(schemaOf(dataDir)).toBe(tags.length);
  });

  it('a second service on the same DATA_DIR refuses to start, naming the lock, and leaves the first alone', async () => {
    const dataDir = await tempDir('second-service-');
    const first = await runningService(dataDir);
    try {
      const second = spawnSync(process.execPath, ['--import', 'tsx', 'src/app/main.ts'], {
        env: { ...process.env, DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'silent' },
        encoding: 'utf8',
        timeout: 120_000,
      });
      expect([second.status, second.stderr]).toEqual([
        1,
        `Cannot start: another service is running on DATA_DIR ${dataDir} (it holds ${join(dataDir, 'service.lock')}); one service per DATA_DIR: stop it first\n`,
      ]);
      expect(first.exitCode).toBeNull();
    } finally {
      first.kill('SIGKILL');
      await new Promise((resolve) => first.once('exit', resolve));
    }
  });

  it('admin works beside a running service whose schema is current', async () => {
    const svc = await startTestService({ channels: [], runner: new ScriptedRunner('pending') });
    try {
      const listed = await runAdmin(['users', '--json'], { DATA_DIR: svc.dataDir }, adminTools);
      expect([listed.code, listed.stdout, listed.stderr]).toEqual([0, '[]\n', '']);
    } finally {
      await svc.stop();
    }
  });

  it('npm run restore refuses while the service runs on the DATA_DIR, and restores once it stopped', async () => {
    const svc = await startTestService({ channels: [], runner: new ScriptedRunner('pending') });
    const backups = await tempDir('running-backups-');
    const restore = (dataDir: string) =>
      spawnSync('npm', ['run', '--silent', 'restore', '--', backups], { env: { ...process.env, DATA_DIR: dataDir }, encoding: 'utf8' });
    try {
      const backup = spawnSync('npm', ['run', '--silent', 'backup'], {
        env: { ...process.env, DATA_DIR: svc.dataDir, BACKUP_TO: backups },
        encoding: 'utf8',
      });
      expect(backup.status).toBe(0);
      // Asked before anything else: a running service writes on to the database it has open, moved aside or not.
      const refused = restore(svc.dataDir);
      expect([refused.status, refused.stderr]).toEqual([1, `restore refused: the service is running on ${svc.dataDir}: stop it first\n`]);
    } finally {
      await svc.stop();
    }
    const target = await tempDir('running-restored-');
    const restored = restore(target);
    expect([restored.status, restored.stderr]).toEqual([0, '']);
  });
});
