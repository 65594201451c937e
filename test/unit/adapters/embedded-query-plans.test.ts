/**
 * The embedded adapters' statements reach the big tables (`objects`, `stream_messages`) through an index, so their
 * cost does not grow with the number of objects or retained messages. That holds for the purges too: a LIMIT does not
 * bound a scan that finds nothing to delete.
 */
import { openDatabase, type Database } from '../../../shared/adapters/embedded/database';
import { EmbeddedObjectStorage } from '../../../shared/adapters/embedded/object-storage';
import { EmbeddedStreams } from '../../../shared/adapters/embedded/stream';

const BIG_TABLES = ['objects', 'stream_messages'];

/** Every statement an adapter prepares, with the plan SQLite chooses for it. */
function preparedStatements(build: (db: Database) => unknown): Array<{ sql: string; plan: string[] }> {
  const db = openDatabase(':memory:');
  const sqls: string[] = [];
  const prepare = db.prepare.bind(db);
  (db as { prepare: (sql: string) => unknown }).prepare = (sql: string) => {
    sqls.push(sql);
    return prepare(sql);
  };
  build(db);
  const out = sqls
    .filter((sql) => !/^\s*PRAGMA/i.test(sql))
    .map((sql) => {
      const names = [...new Set([...sql.matchAll(/@(\w+)/g)].map((m) => m[1] as string))];
      const positional = (sql.replace(/'[^']*'/g, '').match(/\?/g) ?? []).length;
      const explain = prepare(`EXPLAIN QUERY PLAN ${sql}`);
      const rows = (names.length > 0 ? explain.all(Object.fromEntries(names.map((n) => [n, null]))) : explain.all(...Array(positional).fill(null))) as Array<{ detail: string }>;
      return { sql, plan: rows.map((r) => r.detail) };
    });
  db.close();
  return out;
}

/** Plan lines that walk a whole big table or index (`SCAN t`, with or without an alias or covering index). */
function scansOfBigTables(plan: string[], sql: string): string[] {
  const aliases = new Map<string, string>();
  for (const m of sql.matchAll(/\b(?:FROM|JOIN)\s+(\w+)(?:\s+(?:AS\s+)?(?!WHERE|JOIN|ON|ORDER|GROUP|LIMIT|NOT|INDEXED)(\w+))?/gi)) {
    const table = m[1] as string;
    aliases.set(table, table);
    if (m[2]) aliases.set(m[2], table);
  }
  return plan.filter((line) => {
    const scanned = /^SCAN (\w+)/.exec(line)?.[1];
    return scanned !== undefined && BIG_TABLES.includes(aliases.get(scanned) ?? scanned);
  });
}

describe('embedded query plans', () => {
  const clock = { nowMs: () => 0 };
  const adapters: Array<[string, (db: Database) => unknown]> = [
    ['EmbeddedStreams', (db) => new EmbeddedStreams(db, { clock })],
    ['EmbeddedObjectStorage', (db) => new EmbeddedObjectStorage(db, { clock })],
  ];

  it.each(adapters)('%s prepares statements, and this test sees them', (_name, build) => {
    expect(preparedStatements(build).length).toBeGreaterThan(5);
  });

  it.each(adapters)('%s reads and writes the big tables only through an index', (_name, build) => {
    const offenders = preparedStatements(build).flatMap(({ sql, plan }) => scansOfBigTables(plan, sql).map((line) => `${line}  <=  ${sql.replace(/\s+/g, ' ').trim()}`));
    expect(offenders).toEqual([]);
  });

  it('recognises a scan of a big table (the check can fail)', () => {
    const db = openDatabase(':memory:');
    const sql = 'SELECT stream_id, max(seq) FROM stream_messages WHERE seq > ? GROUP BY stream_id';
    const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(null) as Array<{ detail: string }>).map((r) => r.detail);
    db.close();
    expect(scansOfBigTables(plan, sql)).toEqual([expect.stringMatching(/^SCAN stream_messages/)]);
  });
});
