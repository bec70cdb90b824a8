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
import { Window } from '../../src/store/window.js';
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

describe('schema migrations on SQLite', () => {
  test('a store created before the runner is recognised as version 1 and keeps its data', async () => {
    const path = join(dir, 'legacy.db');
    await legacySqlite(path);
    const old = new SqliteStore(path);
    // The old code wrote rows without ever running the runner.
    await old.writeWindows([window('a')]);
    await old.close();

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
      const old = new PostgresStore({ url: TEST_PG_URL, schema });
      await old.writeWindows([window('a')]);
      await old.close();

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
});
