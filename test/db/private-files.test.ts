import { chmodSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db';

const modeOf = (path: string) => (statSync(path).mode & 0o777).toString(8);

describe("the service's database on disk", () => {
  let root: string | undefined;
  afterEach(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('is readable by its owner alone, with its WAL and shared-memory files, in a folder of its own', async () => {
    root = await mkdtemp(join(tmpdir(), 'private-db-'));
    const dataDir = join(root, 'data');
    const db = openDatabase(join(dataDir, 'service.db'));
    db.$client.exec('CREATE TABLE t (x); INSERT INTO t VALUES (1)');
    try {
      expect(modeOf(dataDir)).toBe('700');
      const files = (await readdir(dataDir)).sort();
      expect(files).toEqual(['service.db', 'service.db-shm', 'service.db-wal']);
      for (const file of files) expect([file, modeOf(join(dataDir, file))]).toEqual([file, '600']);
    } finally {
      db.$client.close();
    }
  });

  it('is made owner-only when an earlier version left it readable by everyone', async () => {
    root = await mkdtemp(join(tmpdir(), 'private-db-'));
    const path = join(root, 'service.db');
    writeFileSync(path, '');
    chmodSync(path, 0o644);
    openDatabase(path).$client.close();
    expect(modeOf(path)).toBe('600');
  });
});
