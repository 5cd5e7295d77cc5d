import { asc, eq, sql } from 'drizzle-orm';
import type { Db } from '../db';
import { prepared } from '../db/prepared';
import { files } from '../db/schema';
import { text } from '../messages';

export type FileRow = typeof files.$inferSelect;

/** An order's files in the order they were sent. */
export function orderFiles(db: Db, orderId: string): FileRow[] {
  return prepared(db, 'orderFiles', (d) =>
    d
      .select()
      .from(files)
      .where(eq(files.orderId, sql.placeholder('orderId')))
      .orderBy(asc(files.position))
      .prepare(),
  ).all({ orderId });
}

/** One line per file: its name and length, or why it was refused. */
export function fileLines(rows: FileRow[]): string[] {
  return rows.map((f) =>
    f.state === 'rejected' ? text.refusedLine(f.name, f.error ?? text.refusals.notAudio) : text.fileLine(f.name, f.duration ?? 0),
  );
}
