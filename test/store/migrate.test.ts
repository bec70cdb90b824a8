/** The versioned schema: stores made before the migration runner upgrade in place, on both backends. */
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import pg from 'pg';
import { isCoded } from '../../src/core/errors.js';
import { migrate, type Migration } from '../../src/store/migrate.js';
import { PostgresStore, postgresMigrations } from '../../src/store/postgres.js';
import { SQLITE_MIGRATIONS, SqliteStore, sqliteMigrationDriver } from '../../src/store/sqlite.js';
import { LEGACY_WINDOW_COLUMNS, windowValues } from '../../src/store/sql.js';
import { Window, type WindowRow } from '../../src/store/window.js';
import { TEST_PG_URL, postgresSkipReason, uniqueSchema } from '../helpers/postgres.js';

const dir = mkdtempSync(join(tmpdir(), 'sp-migrate-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The schema the store created before it had versions: migration 1's statements, run without the runner. */
async function legacySqlite(path: string): Promise<void> {
  const db = new Database(path);
  await SQLITE_MIGRATIONS[0].up({
    exec: async (sql, params = []) => void db.prepare(sql).run(...params),
    all: async (sql, params = []) => db.prepare(sql).all(...params) as Record<string, unknown>[],
  });
  db.close();
}

const window = (target: string) => {
  const w = new Window(60_000, 60);
  w.addSample(61_000, 3);
  return w.toRow(target, 'metric', 'cpu', true);
};

/** Windows of a few series, granularities and states, as a store before schema version 3 held them. */
function legacyRows(): WindowRow[] {
  const rows: WindowRow[] = [];
  for (const target of ['db-1', 'db-2']) {
    for (const [dim, key] of [['total', ''], ['table', 'orders'], ['table', 'users'], ['metric', 'cpu']] as const) {
      for (const [granularity, start, final] of [[60, 60_000, true], [60, 120_000, false], [300, 0, true]] as const) {
        const w = new Window(start, granularity);
        if (dim === 'metric') w.addSample(start + 1000, 40 + start / 60_000);
        else w.addRequest(start + 1000, 2.5 + granularity / 60, 40, 100 * (key.length + 1), 3, key === 'users', 2, 0.5);
        rows.push(w.toRow(target, dim, key, final));
      }
    }
  }
  return rows;
}

/** INSERT of legacy rows into the windows table as schema versions 1 and 2 had it. */
const legacyInsert = (table: string, ph: (i: number) => string) =>
  `INSERT INTO ${table} (${LEGACY_WINDOW_COLUMNS.join(', ')}) VALUES (${LEGACY_WINDOW_COLUMNS.map((_, i) => ph(i + 1)).join(', ')})`;
const legacyParams = (r: WindowRow, bool: (b: boolean) => unknown) => [r.target, r.granularity, r.dim, r.key, r.start, ...windowValues(r, bool)];

/** Every legacy row reads back exactly through the store, and the store's queries answer from them. */
async function assertMigrated(store: SqliteStore | PostgresStore, rows: readonly WindowRow[]): Promise<void> {
  const hex = (w: WindowRow) => ({ ...w, sketch: w.sketch.toString('hex') });
  for (const r of rows) {
    const back = await store.queryWindows({ target: r.target, granularity: r.granularity, dim: r.dim, key: r.key, from: r.start, to: r.start + 1 });
    assert.deepEqual(back.map(hex), [hex(r)]);
  }
  assert.equal(await store.seriesCount(), 8);
  const bySeries = (a: WindowRow, b: WindowRow) => a.target.localeCompare(b.target) || a.dim.localeCompare(b.dim) || a.key.localeCompare(b.key);
  assert.deepEqual((await store.loadOpenWindows()).sort(bySeries).map(hex), rows.filter((r) => !r.final).sort(bySeries).map(hex));
  const top = await store.topKeys({ target: 'db-2', granularity: 60, dim: 'table', from: 0, to: 1e15, by: 'bytes', limit: 10 });
  assert.deepEqual(top.map((t) => [t.key, t.count, t.estBytes]), [['orders', 2, 2800], ['users', 2, 2400]]);
  assert.equal(await store.deleteWindowsBefore(60, 1e15), 8);
  assert.equal(await store.deleteWindowsBefore(300, 1e15), 8);
  assert.deepEqual((await store.loadOpenWindows()).length, 8);
  // New writes land beside the migrated series.
  await store.writeWindows([window('db-1'), window('db-3')]);
  assert.equal(await store.seriesCount(), 9);
}

describe('schema migrations on SQLite', () => {
  test('a store created before the runner is recognised as version 1 and keeps its data', async () => {
    const path = join(dir, 'legacy.db');
    await legacySqlite(path);
    // The old code wrote rows without ever running the runner.
    const old = new Database(path);
    old.prepare(legacyInsert('windows', () => '?')).run(legacyParams(window('a'), (b) => (b ? 1 : 0)));
    old.close();

    const store = new SqliteStore(path);
    await store.init();
    await store.init(); // idempotent
    const db = new Database(path, { readonly: true });
    const versions = db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all() as { version: number }[];
    db.close();
    assert.deepEqual(versions.map((v) => v.version), SQLITE_MIGRATIONS.map((m) => m.version));
    const rows = await store.queryWindows({ target: 'a', granularity: 60, dim: 'metric', key: 'cpu', from: 0, to: 1e15 });
    assert.equal(rows.length, 1);
    assert.equal(rows[0].last, 3);
    await store.close();
  });

  test('windows of a version 2 store move to the series dictionary and read back exactly', async () => {
    const path = join(dir, 'v2.db');
    const db = new Database(path);
    await migrate(sqliteMigrationDriver(db), SQLITE_MIGRATIONS.slice(0, 2), () => 1);
    const rows = legacyRows();
    const insert = db.prepare(legacyInsert('windows', () => '?'));
    for (const r of rows) insert.run(legacyParams(r, (b) => (b ? 1 : 0)));
    db.close();

    const store = new SqliteStore(path);
    await store.init();
    const check = new Database(path, { readonly: true });
    const columns = (check.prepare('PRAGMA table_info(windows)').all() as { name: string }[]).map((c) => c.name);
    const indexes = (check.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'windows' AND sql IS NOT NULL").all() as { name: string }[]).map((i) => i.name);
    check.close();
    assert.deepEqual(columns.slice(0, 3), ['series', 'granularity', 'start']);
    assert.ok(!columns.includes('target'));
    assert.deepEqual(indexes, ['windows_open']);
    await assertMigrated(store, rows);
    await store.close();
  });

  test('an older store without a later column gets it', async () => {
    const path = join(dir, 'older.db');
    await legacySqlite(path);
    const db = new Database(path);
    db.exec('ALTER TABLE anomalies DROP COLUMN last_anomalous');
    db.close();
    const store = new SqliteStore(path);
    await store.init();
    await store.close();
    const check = new Database(path, { readonly: true });
    const columns = (check.prepare('PRAGMA table_info(anomalies)').all() as { name: string }[]).map((c) => c.name);
    check.close();
    assert.ok(columns.includes('last_anomalous'));
  });

  test('a failing migration leaves nothing behind; the next run applies it', async () => {
    const db = new Database(join(dir, 'steps.db'));
    let fail = true;
    const steps: Migration[] = [
      { version: 1, name: 'one', up: async (tx) => tx.exec('CREATE TABLE one (x INTEGER)') },
      {
        version: 2, name: 'two', async up(tx) {
          await tx.exec('CREATE TABLE two (x INTEGER)');
          if (fail) throw new Error('step two failed');
        },
      },
    ];
    await assert.rejects(migrate(sqliteMigrationDriver(db), steps, () => 1), /step two failed/);
    const tables = () => (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((t) => t.name);
    assert.deepEqual(tables(), ['one', 'schema_migrations']);
    fail = false;
    assert.deepEqual(await migrate(sqliteMigrationDriver(db), steps, () => 2), { from: 1, to: 2 });
    assert.deepEqual(tables(), ['one', 'schema_migrations', 'two']);
    assert.deepEqual(await migrate(sqliteMigrationDriver(db), steps, () => 3), { from: 2, to: 2 });
    db.close();
  });

  test('a store written by a newer release is refused, naming both versions', async () => {
    const path = join(dir, 'newer.db');
    const store = new SqliteStore(path);
    await store.init();
    await store.close();
    const db = new Database(path);
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(SQLITE_MIGRATIONS.length + 5, 'from the future', 1);
    db.close();
    const again = new SqliteStore(path);
    await assert.rejects(again.init(), (err) => isCoded(err, 'SHADOWPLANE_ERR_STORE_UNAVAILABLE') && err.message.includes(`version ${SQLITE_MIGRATIONS.length + 5}`));
    await again.close();
  });
});

describe('schema migrations on PostgreSQL', async () => {
  const skip = await postgresSkipReason();
  const schema = uniqueSchema('sp_migrate');
  const quoted = `"${schema}"`;
  after(async () => {
    if (skip) return;
    const store = new PostgresStore({ url: TEST_PG_URL, schema });
    await store.dropSchema();
    await store.close();
  });

  test('a store created before the runner upgrades in place, and two instances migrate one after the other', { skip }, async () => {
    const client = new pg.Client({ connectionString: TEST_PG_URL });
    await client.connect();
    try {
      await client.query(`CREATE SCHEMA ${quoted}`);
      await postgresMigrations(quoted)[0].up({
        exec: async (sql, params) => void (await client.query(sql, params)),
        all: async (sql, params) => (await client.query(sql, params)).rows as Record<string, unknown>[],
      });
      await client.query(legacyInsert(`${quoted}.windows`, (i) => `$${i}`), legacyParams(window('a'), (b) => b));

      const a = new PostgresStore({ url: TEST_PG_URL, schema });
      const b = new PostgresStore({ url: TEST_PG_URL, schema });
      await Promise.all([a.init(), b.init()]);
      const { rows } = await client.query(`SELECT version FROM ${quoted}.schema_migrations ORDER BY version`);
      assert.deepEqual(rows.map((r) => r.version), postgresMigrations(quoted).map((m) => m.version));
      const back = await a.queryWindows({ target: 'a', granularity: 60, dim: 'metric', key: 'cpu', from: 0, to: 1e15 });
      assert.equal(back[0].last, 3);
      await a.close();
      await b.close();
    } finally {
      await client.end();
    }
  });

  test('windows of a version 2 store move to the series dictionary and read back exactly', { skip }, async () => {
    const v2 = uniqueSchema('sp_migrate_v2');
    const q = `"${v2}"`;
    const client = new pg.Client({ connectionString: TEST_PG_URL });
    await client.connect();
    const store = new PostgresStore({ url: TEST_PG_URL, schema: v2 });
    try {
      await client.query(`CREATE SCHEMA ${q}`);
      for (const m of postgresMigrations(q).slice(0, 2)) {
        await m.up({
          exec: async (sql, params) => void (await client.query(sql, params)),
          all: async (sql, params) => (await client.query(sql, params)).rows as Record<string, unknown>[],
        });
      }
      await client.query(`CREATE TABLE ${q}.schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
      await client.query(`INSERT INTO ${q}.schema_migrations VALUES (1, 'one', 1), (2, 'two', 1)`);
      const rows = legacyRows();
      for (const r of rows) await client.query(legacyInsert(`${q}.windows`, (i) => `$${i}`), legacyParams(r, (b) => b));
      // More windows than the migration copies at a time, of another target.
      const sketch = rows[0].sketch;
      await client.query(
        `INSERT INTO ${q}.windows SELECT 'many', 60, 'total', '', m * 60000, true, m, m, 0, 0, 0, 0, 0, m, 1, 1, 1, 1, NULL, 0, $1 FROM generate_series(1, 12345) AS m`,
        [sketch],
      );

      await store.init();
      const many = await store.queryWindows({ target: 'many', granularity: 60, dim: 'total', key: '', from: 0, to: 1e15 });
      assert.deepEqual([many.length, many[0].count, many[12344].sum, many[12344].last], [12345, 1, 12345, Number.NaN]);
      await store.deleteTarget('many');
      const { rows: indexes } = await client.query(`SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename IN ('windows', 'open_windows') ORDER BY indexname`, [v2]);
      assert.deepEqual(indexes.map((i) => i.indexname), ['open_windows_by_series', 'windows_by_series']);
      await assertMigrated(store, rows);
    } finally {
      await store.dropSchema();
      await store.close();
      await client.end();
    }
  });

  test('open windows of a version 4 store move to a table of their own; final ones stay', { skip }, async () => {
    const v4 = uniqueSchema('sp_migrate_v4');
    const q = `"${v4}"`;
    const client = new pg.Client({ connectionString: TEST_PG_URL });
    await client.connect();
    const store = new PostgresStore({ url: TEST_PG_URL, schema: v4 });
    try {
      await client.query(`CREATE SCHEMA ${q}`);
      const tx = {
        exec: async (sql: string, params?: unknown[]) => void (await client.query(sql, params)),
        all: async (sql: string, params?: unknown[]) => (await client.query(sql, params)).rows as Record<string, unknown>[],
      };
      const steps = postgresMigrations(q);
      const rows = legacyRows();
      for (const m of steps.slice(0, 2)) await m.up(tx);
      for (const r of rows) await client.query(legacyInsert(`${q}.windows`, (i) => `$${i}`), legacyParams(r, (b) => b));
      // Versions 3 and 4 as a store of that release made them: its windows, open ones included, in one table.
      for (const m of steps.slice(2, 4)) await m.up(tx);
      await client.query(`CREATE TABLE ${q}.schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
      await client.query(`INSERT INTO ${q}.schema_migrations VALUES (1, 'one', 1), (2, 'two', 1), (3, 'three', 1), (4, 'four', 1)`);
      const before = await client.query(`SELECT final, COUNT(*)::int AS n FROM ${q}.windows GROUP BY final ORDER BY final`);
      assert.deepEqual(before.rows.map((r) => [r.final, r.n]), [[false, 8], [true, 16]]);

      await store.init();
      const counts = await client.query(`SELECT (SELECT COUNT(*) FROM ${q}.windows WHERE final)::int AS final, (SELECT COUNT(*) FROM ${q}.windows)::int AS all,
        (SELECT COUNT(*) FROM ${q}.open_windows)::int AS open`);
      assert.deepEqual(counts.rows[0], { final: 16, all: 16, open: 8 });
      const { rows: versions } = await client.query(`SELECT version FROM ${q}.schema_migrations ORDER BY version`);
      assert.deepEqual(versions.map((r) => r.version), steps.map((m) => m.version));
      await assertMigrated(store, rows);
    } finally {
      await store.dropSchema();
      await store.close();
      await client.end();
    }
  });
});
