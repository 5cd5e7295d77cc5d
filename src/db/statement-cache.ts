import type Database from 'better-sqlite3';

/**
 * Keeps the `size` statements prepared last on `sqlite` and hands them out again for the same SQL.
 * The query builder prepares every query it runs, and SQLite compiling the same few dozen statements
 * again was the largest single cost of a money command. A statement comes back in its plain row mode,
 * whatever the last caller set, so no caller sees another's arrays or plucked columns.
 */
export function cacheStatements(sqlite: Database.Database, size = 256): void {
  const prepare = sqlite.prepare.bind(sqlite);
  const statements = new Map<string, Database.Statement>();
  const cached = (source: string): Database.Statement => {
    let statement = statements.get(source);
    if (statement) {
      // Most recently used last: the first key is the one to drop.
      statements.delete(source);
      if (statement.reader) statement.pluck(false).expand(false).raw(false);
    } else {
      statement = prepare(source);
      if (statements.size >= size) statements.delete(statements.keys().next().value!);
    }
    statements.set(source, statement);
    return statement;
  };
  sqlite.prepare = cached as Database.Database['prepare'];
}
