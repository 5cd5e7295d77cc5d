import type Database from 'better-sqlite3';
import type { Logger } from '../log';
import { takeBackup, type BackupResult } from './backup';
import { listBackups, type BackupPlace } from './target';

/** How often the schedule looks whether a backup is due. */
export const BACKUP_CHECK_MS = 60_000;

/**
 * Backups on a schedule inside the service: one whenever the newest backup in `place` is older than
 * `intervalMs`. Going by the newest backup rather than a timer means a restart neither takes an extra
 * backup (a crash loop would rotate the good ones away) nor postpones the next one.
 */
export class BackupSchedule {
  private lastAt?: number;

  constructor(
    private readonly deps: {
      sqlite: Database.Database;
      workDir: string;
      place: BackupPlace;
      intervalMs: number;
      keep: number;
      log: Logger;
    },
  ) {}

  /** One look: takes a backup when one is due. For a `Loop` every `BACKUP_CHECK_MS`. */
  tick = async (): Promise<BackupResult | undefined> => {
    const { place, intervalMs, log } = this.deps;
    this.lastAt ??= await this.newestInThePast();
    if (Date.now() - this.lastAt < intervalMs) return undefined;
    const result = await takeBackup({ sqlite: this.deps.sqlite, workDir: this.deps.workDir, place, keep: this.deps.keep });
    this.lastAt = result.takenAt;
    log.info(
      {
        to: result.location,
        databaseBytes: result.databaseBytes,
        storedBytes: result.storedBytes,
        ms: result.durationMs,
        removed: result.removed.length,
        leftovers: result.leftovers,
      },
      'database backed up',
    );
    return result;
  };

  /**
   * When the newest backup was taken, not counting any named after now: one taken while the clock was ahead (a VM
   * restored from a snapshot, NTP stepping back) would otherwise stop every backup until that date comes.
   */
  private async newestInThePast(): Promise<number> {
    const backups = await listBackups(this.deps.place);
    const now = Date.now();
    const ahead = backups.filter((b) => b.takenAt > now);
    if (ahead.length > 0) {
      const names = ahead.map((b) => b.key);
      this.deps.log.warn({ backups: names }, 'backups named after the present (the clock was ahead when they were taken); not counted');
    }
    return backups.find((b) => b.takenAt <= now)?.takenAt ?? 0;
  }
}
