import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { cacheStatements } from '../../src/db/statement-cache';

describe('the statement cache', () => {
  let sqlite: Database.Database;
  afterEach(() => sqlite?.close());

  const open = (size?: number) => {
    sqlite = new Database(':memory:');
    cacheStatements(sqlite, size);
    sqlite.exec("CREATE TABLE t (a INTEGER, b TEXT); INSERT INTO t VALUES (1, 'one'), (2, 'two')");
    return sqlite;
  };

  it('hands out the same statement for the same SQL, in plain row mode whatever the last caller set', () => {
    const db = open();
    const source = 'SELECT a, b FROM t ORDER BY a';
    const first = db.prepare(source);
    expect(first.raw().all()).toEqual([
      [1, 'one'],
      [2, 'two'],
    ]);
    const second = db.prepare(source);
    expect(second).toBe(first);
    expect(second.all()).toEqual([
      { a: 1, b: 'one' },
      { a: 2, b: 'two' },
    ]);
    expect(db.prepare(source).pluck().get()).toBe(1);
    expect(db.prepare(source).get()).toEqual({ a: 1, b: 'one' });
  });

  it('keeps at most its size, dropping the statement used longest ago', () => {
    const db = open(2);
    const one = db.prepare('SELECT 1');
    const two = db.prepare('SELECT 2');
    expect(db.prepare('SELECT 1')).toBe(one);
    db.prepare('SELECT 3');
    expect(db.prepare('SELECT 1')).toBe(one);
    expect(db.prepare('SELECT 2')).not.toBe(two);
  });

  it('caches nothing for SQL that does not compile, and writes still run', () => {
    const db = open();
    expect(() => db.prepare('SELEC nonsense')).toThrow();
    db.prepare('INSERT INTO t VALUES (?, ?)').run(3, 'three');
    db.prepare('INSERT INTO t VALUES (?, ?)').run(4, 'four');
    expect(db.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 4 });
  });
});
