/**
 * `npm run backup` (one backup now, to `BACKUP_TO`) and `npm run restore -- FILE|FOLDER|s3://...`
 * (into an empty `DATA_DIR`). Both are safe while the service runs; restore refuses to overwrite.
 */
import 'dotenv/config';
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { takeBackup } from '../backup/backup';
import { RestoreError, restoreBackup } from '../backup/restore';
import { ConfigError, loadConfig } from '../config';
import { openBackupPlace } from './backup-place';
import { scrubSecrets } from '../secrets';

const USAGE = 'usage: npm run backup [-- --json] | npm run restore -- FILE|FOLDER|s3://bucket/key [--json]';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { json: { type: 'boolean' } }, allowPositionals: true });
  } catch (error) {
    return fail(`${(error as Error).message}\n${USAGE}`, 2);
  }
  const { values, positionals } = parsed;
  const config = loadConfig();
  const print = (json: object, line: string) => console.log(values.json ? JSON.stringify(json, null, 2) : line);

  if (command === 'backup' && positionals.length === 0) {
    const path = join(config.dataDir, 'service.db');
    if (!existsSync(path)) return fail(`no database at ${path} (check DATA_DIR)`, 1);
    const sqlite = new Database(path, { fileMustExist: true });
    sqlite.pragma('busy_timeout = 5000');
    try {
      const result = await takeBackup({
        sqlite,
        workDir: config.dataDir,
        place: openBackupPlace(config.backup.target),
        keep: config.backup.keep,
        oneStep: true,
      });
      print(
        result,
        `backed up ${path} (${mib(result.databaseBytes)}) to ${result.location} (${mib(result.storedBytes)} gzipped) in ${(result.durationMs / 1000).toFixed(1)} s` +
          (result.removed.length ? `; removed ${result.removed.length} older (keeping ${config.backup.keep})` : '') +
          (result.leftovers.length ? `; removed ${result.leftovers.length} leftovers of runs killed midway` : ''),
      );
      return 0;
    } finally {
      sqlite.close();
    }
  }
  if (command === 'restore' && positionals.length === 1) {
    const storage = config.storage.kind === 's3' ? config.storage : undefined;
    const target = config.backup.target.kind === 's3' ? config.backup.target : undefined;
    const s3 = {
      region: target?.region ?? storage?.region ?? 'us-east-1',
      endpoint: target?.endpoint ?? storage?.endpoint,
      forcePathStyle: target?.forcePathStyle ?? storage?.forcePathStyle ?? false,
    };
    const result = await restoreBackup(positionals[0]!, config.dataDir, { open: openBackupPlace, s3 });
    const { users, orders, ledgerEntries } = result.counts;
    print(
      result,
      `restored ${result.from} to ${result.database} (${mib(result.bytes)}; integrity ok; ${users} users, ${orders} orders, ${ledgerEntries} ledger entries)`,
    );
    return 0;
  }
  return fail(USAGE, 2);
}

function mib(bytes: number): string {
  return bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function fail(message: string, code: number): number {
  // An S3 or file error may name a URL with credentials in it.
  console.error(scrubSecrets(message));
  return code;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof ConfigError) process.exit(fail(`Configuration error: ${error.message}`, 2));
    if (error instanceof RestoreError) process.exit(fail(`restore refused: ${error.message}`, 1));
    process.exit(fail(`${process.argv[2] ?? 'backup'} failed: ${(error as Error).message}`, 1));
  },
);
