/**
 * How long a store's start takes to bring a large store of schema version 2 (windows naming their
 * series by text in every row) to the current version: migration 3 copies every window into the
 * series-keyed table in the one transaction of its step, at start, before the service answers.
 *
 * The store is filled in SQL (no service): N targets × 27 series × `--days` days of final
 * 1-minute windows (the week bench's shape: 2,721,600 windows for 10 targets and 7 days), each
 * with the same small sketch. Then `init()` runs the migrations; the time of each step is read from
 * `schema_migrations.applied_at`.
 *
 *   npm run build && node dist/bench/store/migrate.js [--backend both|sqlite|postgres] [--targets 10] [--days 7]
 *
 * PostgreSQL comes from SHADOWPLANE_PG_URL (default postgres://postgres@127.0.0.1:5432/test); the
 * schema is dropped at the end. The SQLite file lives in a temporary directory, removed at the end.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PostgresStore, postgresMigrations } from '../../src/store/postgres.js';
import { SQLITE_MIGRATIONS, SqliteStore } from '../../src/store/sqlite.js';
import type { MigrationTx } from '../../src/store/migrate.js';
import { Window } from '../../src/store/window.js';
import { historyArgs } from './stored.js';

const { backends: BACKENDS, targets: TARGETS, days: DAYS, pgUrl: PG_URL } = historyArgs();
const MINUTES = DAYS * 24 * 60;
const progress = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

/** A sketch as a window of three requests holds it. */
function sketch(): Buffer {
  const w = new Window(0, 60);
  for (const latency of [1.5, 7, 40]) w.addSample(1000, latency);
  return w.toRow('x', 'total', '', true).sketch;
}

/**
 * The SELECT of every legacy window (version 2 columns): targets × 27 series × minutes, from the
 * row sources `t`, `s` and `m` the caller's SQL dialect provides (`t.i`, `s.i`, `m.i` counting from 0).
 */
const LEGACY_SELECT = `SELECT 'week-' || t.i, 60,
    CASE WHEN s.i = 0 THEN 'total' WHEN s.i < 3 THEN 'op' WHEN s.i < 7 THEN 'table' WHEN s.i < 19 THEN 'column' ELSE 'user' END,
    CASE WHEN s.i = 0 THEN '' ELSE 'k' || s.i END, m.i * 60000, TRUE, 3, 3, 900, 900, 12, 0, 0, 48.5, 1.5, 40, 3, 1, NULL, 0, $1`;

async function runPostgres(): Promise<string> {
  const schema = `sp_migrate_${process.pid}_${Date.now().toString(36)}`;
  const q = `"${schema}"`;
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  const store = new PostgresStore({ url: PG_URL, schema });
  try {
    const tx: MigrationTx = {
      exec: async (sql, params) => void (await client.query(sql, params)),
      all: async (sql, params) => (await client.query(sql, params)).rows,
    };
    await client.query(`CREATE SCHEMA ${q}`);
    for (const m of postgresMigrations(q).slice(0, 2)) await m.up(tx);
    await client.query(`CREATE TABLE ${q}.schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
    await client.query(`INSERT INTO ${q}.schema_migrations VALUES (1, 'bench', 0), (2, 'bench', 0)`);
    progress(`postgres: writing ${(TARGETS * 27 * MINUTES).toLocaleString('en-US')} version 2 windows`);
    await client.query(
      `INSERT INTO ${q}.windows ${LEGACY_SELECT} FROM generate_series(0, ${TARGETS - 1}) AS t(i), generate_series(0, 26) AS s(i), generate_series(0, ${MINUTES - 1}) AS m(i)`,
      [sketch()],
    );
    await client.query(`VACUUM ANALYZE ${q}.windows`);
    const steps = async () => (await client.query(`SELECT version, applied_at FROM ${q}.schema_migrations ORDER BY version`)).rows;
    return await timeInit('postgres', store, steps, async () => Number((await client.query(`SELECT COUNT(*) AS n FROM ${q}.windows`)).rows[0].n));
  } finally {
    await store.dropSchema().catch(() => undefined);
    await store.close();
    await client.end();
  }
}

async function runSqlite(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'sp-migrate-'));
  const file = join(dir, 'shadowplane.db');
  try {
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    const tx: MigrationTx = {
      exec: async (sql, params = []) => void db.prepare(sql).run(...params),
      all: async (sql, params = []) => db.prepare(sql).all(...params) as Record<string, unknown>[],
    };
    for (const m of SQLITE_MIGRATIONS.slice(0, 2)) await m.up(tx);
    db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
    db.exec("INSERT INTO schema_migrations VALUES (1, 'bench', 0), (2, 'bench', 0)");
    progress(`sqlite: writing ${(TARGETS * 27 * MINUTES).toLocaleString('en-US')} version 2 windows`);
    const series = (n: number) => `(WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < ${n - 1}) SELECT i FROM c)`;
    db.prepare(`INSERT INTO windows ${LEGACY_SELECT.replace('$1', '?')} FROM ${series(TARGETS)} AS t, ${series(27)} AS s, ${series(MINUTES)} AS m`).run(sketch());
    db.close();
    const store = new SqliteStore(file, { mode: 'inline' });
    try {
      const reader = new Database(file, { readonly: true });
      try {
        const steps = async () => reader.prepare('SELECT version, applied_at FROM schema_migrations ORDER BY version').all() as Record<string, unknown>[];
        return await timeInit('sqlite', store, steps, async () => (reader.prepare('SELECT COUNT(*) AS n FROM windows').get() as { n: number }).n);
      } finally {
        reader.close();
      }
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Times `store.init()` and each step it applied (from applied_at); one table row. */
async function timeInit(
  backend: string,
  store: { init(): Promise<void> },
  steps: () => Promise<Record<string, unknown>[]>,
  windows: () => Promise<number>,
): Promise<string> {
  progress(`${backend}: migrating`);
  const t0 = Date.now();
  await store.init();
  const total = Date.now() - t0;
  let previous = t0;
  const perStep: string[] = [];
  for (const row of await steps()) {
    const at = Number(row.applied_at);
    if (Number(row.version) <= 2) continue;
    perStep.push(`${row.version}: ${((at - previous) / 1000).toFixed(1)} s`);
    previous = at;
  }
  return `| ${backend} | ${(await windows()).toLocaleString('en-US')} | ${(total / 1000).toFixed(1)} | ${perStep.join(', ')} |`;
}

console.log(`load before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}; ${TARGETS} targets × 27 series × ${DAYS} days of 1-minute windows at schema version 2`);
console.log('| backend | windows | init() s | per step |');
console.log('|---|--:|--:|---|');
for (const backend of BACKENDS) console.log(backend === 'postgres' ? await runPostgres() : await runSqlite());
console.log(`load after: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
