/**
 * Versioned schemas for the Shadow Store's SQL backends. Each backend lists its migrations in
 * order (version 1, 2, ...); the runner applies the ones a database has not recorded yet, each in
 * its own transaction together with the row that records it in `schema_migrations`, so a
 * migration is applied completely or not at all and never twice. A database created before the
 * runner existed has no `schema_migrations` table: migration 1 is the schema as it was then,
 * written to be idempotent (`IF NOT EXISTS`, columns added only when missing), so running it on
 * such a database only records it as version 1.
 *
 * Two instances starting on one database at once (PostgreSQL replicas) are safe: the backend's
 * transaction takes a lock first (SQLite: the write lock; PostgreSQL: a transaction advisory
 * lock) and the recorded version is read again under it.
 */
import { ShadowplaneError } from '../core/errors.js';

/** What a migration may do inside its transaction. */
export interface MigrationTx {
  /** Runs one statement. */
  exec(sql: string, params?: unknown[]): Promise<void>;
  /** Runs one query and returns its rows. */
  all(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
}

/** One step of a backend's schema. */
export interface Migration {
  /** 1, 2, ...: the position in the backend's list. */
  version: number;
  /** What it changes, recorded with the version. */
  name: string;
  up(tx: MigrationTx): Promise<void>;
}

/** How the runner reaches one database. */
export interface MigrationDriver {
  /** Creates `schema_migrations` if missing (idempotent, outside any migration). */
  ensureTable(): Promise<void>;
  /** Runs `fn` in one transaction that holds the database's migration lock; commits if it resolves, rolls back if it rejects. */
  transaction(fn: (tx: MigrationTx) => Promise<void>): Promise<void>;
  /** The qualified name of the migrations table. */
  readonly table: string;
  /** Placeholder `i` (1-based) in this backend's SQL. */
  placeholder(i: number): string;
}

/** The columns of `schema_migrations`, in SQL both backends accept (`time`: the type of ms timestamps). */
export function migrationsTableSql(table: string, time: 'INTEGER' | 'BIGINT'): string {
  return `CREATE TABLE IF NOT EXISTS ${table} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at ${time} NOT NULL)`;
}

/** The highest version recorded in the migrations table (0 when none). */
async function recorded(tx: MigrationTx, table: string): Promise<number> {
  const [row] = await tx.all(`SELECT MAX(version) AS v FROM ${table}`);
  return row?.v === null || row?.v === undefined ? 0 : Number(row.v);
}

/**
 * Brings the database to the last version of `migrations` (ordered by version, starting at 1,
 * without gaps). Returns the versions before and after. Rejects with
 * SHADOWPLANE_ERR_STORE_UNAVAILABLE, applying nothing, when the database records a version this
 * code does not know (it was written by a newer release).
 */
export async function migrate(driver: MigrationDriver, migrations: readonly Migration[], now: () => number): Promise<{ from: number; to: number }> {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration "${m.name}" has version ${m.version}, expected ${i + 1}`);
  });
  await driver.ensureTable();
  let from: number | undefined;
  const latest = migrations.length;
  for (const m of migrations) {
    await driver.transaction(async (tx) => {
      const current = await recorded(tx, driver.table);
      from ??= current;
      if (current > latest) {
        throw new ShadowplaneError('SHADOWPLANE_ERR_STORE_UNAVAILABLE', `the store's schema is at version ${current}, newer than this release knows (${latest}): run a release at least as new as the one that wrote it`);
      }
      if (current >= m.version) return;
      await m.up(tx);
      const p = driver.placeholder;
      await tx.exec(`INSERT INTO ${driver.table} (version, name, applied_at) VALUES (${p(1)}, ${p(2)}, ${p(3)})`, [m.version, m.name, now()]);
    });
  }
  return { from: from ?? 0, to: latest };
}
