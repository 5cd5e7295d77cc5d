import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '../..');
const migrations = join(root, 'src/db/migrations');

describe('migrations', () => {
  const out = mkdtempSync(join(tmpdir(), 'migrations-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  // drizzle-kit diffs the schema against the newest snapshot: a missing or stale one makes the next
  // `drizzle-kit generate` repeat tables and columns that earlier migrations already created.
  it('drizzle-kit generate on the unchanged schema writes nothing', async () => {
    cpSync(migrations, out, { recursive: true });
    const before = readdirSync(out, { recursive: true }).sort();
    const { stdout, stderr } = await run(
      'npx',
      ['drizzle-kit', 'generate', '--dialect', 'sqlite', '--schema', './src/db/schema.ts', '--out', relative(root, out)],
      { cwd: root },
    );
    expect(stdout + stderr).toContain('No schema changes');
    expect(readdirSync(out, { recursive: true }).sort()).toEqual(before);
  }, 120_000);
});
