import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Removes the files in `directory` that `matches` picks and that nothing wrote to for `olderThanMs`: what a write
 * killed midway left. A write still going keeps touching its file, so it is never taken. Returns the names removed.
 */
export async function removeStale(directory: string, matches: (name: string) => boolean, olderThanMs: number): Promise<string[]> {
  const entries = await readdir(directory, { withFileTypes: true }).catch(() => []);
  const removed: string[] = [];
  for (const entry of entries) {
    if (!entry.isFile() || !matches(entry.name)) continue;
    const path = join(directory, entry.name);
    const { mtimeMs } = await stat(path).catch(() => ({ mtimeMs: Date.now() }));
    if (Date.now() - mtimeMs < olderThanMs) continue;
    await rm(path, { force: true });
    removed.push(entry.name);
  }
  return removed;
}
