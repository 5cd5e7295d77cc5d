import type { BackupTarget } from '../config';
import type { ListableBlobStore } from '../ports/blob-store';

/** A place for backups: a store and the folder in it. */
export interface BackupPlace {
  store: ListableBlobStore;
  folder: string;
  /** How the operator wrote it: a folder path or `s3://bucket/prefix`. */
  label: string;
  /** The full name of one backup in it: a path, or `s3://bucket/key`. */
  locate(key: string): string;
}

/** Opens the place a `BackupTarget` names (the composition root knows the stores). */
export type OpenBackupPlace = (target: BackupTarget) => BackupPlace;

/** `service-20261130T003118Z.db.gz`: the time it was taken, sortable as text. */
const NAME = /^service-(\d{8})T(\d{6})Z\.db\.gz$/;

/** The file name for a backup taken at `at`. */
export function backupName(at: Date): string {
  const stamp = at
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
  return `service-${stamp}.db.gz`;
}

/** When the backup named `name` was taken, or undefined when the name is not a backup's. */
export function backupTime(name: string): number | undefined {
  const match = NAME.exec(name.split('/').pop() ?? '');
  if (!match) return undefined;
  const [d, t] = [match[1]!, match[2]!];
  return Date.parse(`${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6)}T${t.slice(0, 2)}:${t.slice(2, 4)}:${t.slice(4)}Z`);
}

export interface BackupEntry {
  key: string;
  bytes: number;
  takenAt: number;
}

/** The backups in `place`, newest first; other files there are left alone. */
export async function listBackups(place: BackupPlace): Promise<BackupEntry[]> {
  const found: BackupEntry[] = [];
  for (const entry of await place.store.list(place.folder)) {
    const takenAt = backupTime(entry.key);
    if (takenAt !== undefined) found.push({ ...entry, takenAt });
  }
  return found.sort((a, b) => b.takenAt - a.takenAt || b.key.localeCompare(a.key));
}
