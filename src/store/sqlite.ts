/**
 * The embedded Shadow Store: one SQLite file in WAL mode (better-sqlite3). `synchronous=NORMAL`
 * with WAL keeps every committed flush across a process crash (kill -9); a power cut may lose the
 * last transactions, which the flush interval bounds anyway.
 */
import Database from 'better-sqlite3';
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { ShadowplaneError } from '../core/errors.js';
import type { AuditEntry, Condition, ControlState, DecisionRecord } from '../model/decision.js';
import type { AnomalyEvent, AnomalyRecord, TriageChange, TriageState } from '../model/detect.js';
import type { CapacityRun } from '../model/capacity.js';
import type { AnomalyQuery, DecisionQuery, ShadowStore, TargetRecord, TopQuery, TopRow, WindowQuery } from './store.js';
import { capacityRunListSql, capacityRunsSchema, capacityRunUpsertSql, TARGET_TABLES, anomalyFromDb, anomalyLastColumnSql, anomalyListSql, anomalyParams, anomalyTriageSql, anomalyUpsertSql, CONTROL_SCHEMA, quarantineFromDb, quarantineParams, quarantineUpsertSql, TARGET_COLUMNS, WINDOW_COLUMNS, WINDOW_UPSERT_SET, targetFromDb, targetParams, topOrder, topRowFromDb, windowFromDb, windowParams } from './sql.js';
import { migrate, migrationsTableSql, type Migration, type MigrationDriver, type MigrationTx } from './migrate.js';
import type { QuarantinedWindow } from './quarantine.js';
import { packRowsSliced } from './row-pack.js';
import { SqliteThread } from './sqlite-thread.js';
import type { WindowRow } from './window.js';

/** Most time packing a flush's rows for the writer thread takes before it lets the event loop run. */
const PACK_SLICE_MS = 40;

/** SQLite result codes that mean the row, not the database, is at fault. */
const REFUSED_ROW = /^SQLITE_(CONSTRAINT|MISMATCH|TOOBIG)/;

/** The schema as it was before versioned migrations: migration 1, idempotent. */
const SCHEMA_V1 = `
CREATE TABLE IF NOT EXISTS windows (
  target TEXT NOT NULL, granularity INTEGER NOT NULL, dim TEXT NOT NULL, key TEXT NOT NULL, start INTEGER NOT NULL,
  final INTEGER NOT NULL, count REAL NOT NULL, est_count REAL NOT NULL, bytes REAL NOT NULL, est_bytes REAL NOT NULL,
  rows REAL NOT NULL, errors REAL NOT NULL, est_errors REAL NOT NULL, sum REAL NOT NULL, min REAL, max REAL,
  peak REAL NOT NULL, rate REAL NOT NULL, last REAL, last_at INTEGER NOT NULL, sketch BLOB NOT NULL,
  PRIMARY KEY (target, granularity, dim, key, start)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS windows_open ON windows (final) WHERE final = 0;
CREATE INDEX IF NOT EXISTS windows_age ON windows (granularity, start);
CREATE TABLE IF NOT EXISTS targets (
  name TEXT PRIMARY KEY, kind TEXT NOT NULL, labels TEXT NOT NULL, sampling_rate REAL NOT NULL, scrape TEXT,
  source TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL
);
${CONTROL_SCHEMA}`;

/** The SQLite schema's versions, in order (see migrate.ts); add a step at the end, never edit one. */
export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'windows, targets, control tables, anomalies, quarantine',
    async up(tx) {
      for (const sql of SCHEMA_V1.split(';').map((s) => s.trim()).filter((s) => s !== '')) await tx.exec(sql);
      const columns = (await tx.all('PRAGMA table_info(anomalies)')).map((c) => String(c.name));
      if (!columns.includes('last_anomalous')) await tx.exec(anomalyLastColumnSql('anomalies', 'INTEGER', false));
    },
  },
  {
    version: 2,
    name: 'capacity runs',
    async up(tx) {
      for (const sql of capacityRunsSchema('', 'INTEGER')) await tx.exec(sql);
    },
  },
];

/** The migration runner's access to a SQLite database (see migrate.ts). */
export function sqliteMigrationDriver(db: Database.Database): MigrationDriver {
  const tx: MigrationTx = {
    exec: async (sql, params = []) => void db.prepare(sql).run(...params),
    all: async (sql, params = []) => db.prepare(sql).all(...params) as Record<string, unknown>[],
  };
  return {
    table: 'schema_migrations',
    placeholder: () => '?',
    ensureTable: async () => void db.exec(migrationsTableSql('schema_migrations', 'INTEGER')),
    async transaction(fn) {
      // IMMEDIATE takes the write lock first, so a second process migrating waits, then sees the new version.
      db.exec('BEGIN IMMEDIATE');
      try {
        await fn(tx);
        db.exec('COMMIT');
      } catch (err) {
        if (db.inTransaction) db.exec('ROLLBACK');
        throw err;
      }
    },
  };
}

/**
 * The SqliteStore methods that write, and those that read. On a file each runs in a thread of its
 * own (sqlite-thread.ts), so neither a long write nor a fleet's reads block the main thread. A
 * method missing from both lists still works, on the main thread's connection, but blocks it and
 * waits there for the writer's transactions.
 */
const WRITES = [
  'init', 'writeWindows', 'quarantineWindows', 'deleteWindowsBefore', 'putTarget', 'deleteTarget', 'putDecision', 'putCondition',
  'putControlState', 'appendAudit', 'putAnomaly', 'setAnomalyTriage', 'putCapacityRun',
] as const satisfies readonly (keyof ShadowStore)[];
const READS = [
  'listQuarantine', 'quarantineCount', 'loadOpenWindows', 'queryWindows', 'topKeys', 'seriesCount', 'listTargets', 'getTarget', 'getDecision',
  'listDecisions', 'listConditions', 'getControlState', 'listAudit', 'getAnomaly', 'listAnomalies', 'getCapacityRun', 'listCapacityRuns',
] as const satisfies readonly (keyof ShadowStore)[];

/** How a SqliteStore runs its statements. */
export interface SqliteStoreOptions {
  /**
   * `threads` (the default on a file): writes go to a writer thread and reads to a reader thread,
   * each owning a connection. `inline`: this connection runs everything (the threads themselves,
   * and `:memory:`, which another connection could not see).
   */
  mode?: 'threads' | 'inline';
}

/** Shadow Store on a SQLite file. */
export class SqliteStore implements ShadowStore {
  readonly backend = 'sqlite';
  private readonly db: Database.Database;
  private readonly threads: SqliteThread[] = [];

  /** Opens (creating if needed) the database file at `path`; `:memory:` works for throwaway use. */
  constructor(private readonly path: string, options: SqliteStoreOptions = {}) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    try {
      this.db = new Database(path);
    } catch (err) {
      throw new ShadowplaneError('SHADOWPLANE_ERR_STORE_UNAVAILABLE', `cannot open SQLite file ${path}: ${(err as Error).message}`);
    }
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    if (path !== ':memory:' && (options.mode ?? 'threads') === 'threads') {
      const writer = new SqliteThread(path);
      const reader = new SqliteThread(path);
      this.threads.push(writer, reader);
      // Own properties shadow the class's methods: on this thread a call is a message to a thread.
      const forward = (thread: SqliteThread, method: string) =>
        Object.defineProperty(this, method, { value: (...args: unknown[]) => thread.call(method, args), writable: true, configurable: true });
      for (const method of WRITES) forward(writer, method);
      for (const method of READS) forward(reader, method);
      // A flush's rows go as one transferred buffer, not thousands of objects to clone (row-pack.ts),
      // packed in slices so the main thread goes on between them.
      this.writeWindows = async (rows) => {
        if (rows.length === 0) return;
        const packed = await packRowsSliced(rows, PACK_SLICE_MS);
        await writer.call('writeWindows', [packed], [packed.buffer]);
      };
    }
  }

  /** Brings the schema to the last of SQLITE_MIGRATIONS. */
  async init(): Promise<void> {
    await migrate(sqliteMigrationDriver(this.db), SQLITE_MIGRATIONS, Date.now);
  }

  async writeWindows(rows: readonly WindowRow[]): Promise<void> {
    if (rows.length === 0) return;
    const insert = this.db.prepare(
      `INSERT INTO windows (${WINDOW_COLUMNS.join(', ')}) VALUES (${WINDOW_COLUMNS.map(() => '?').join(', ')})
       ON CONFLICT (target, granularity, dim, key, start) DO UPDATE SET ${WINDOW_UPSERT_SET}`,
    );
    const bool = (b: boolean) => (b ? 1 : 0);
    try {
      this.db.transaction((all: readonly WindowRow[]) => {
        for (const row of all) insert.run(windowParams(row, bool));
      })(rows);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      const refused = typeof code === 'string' && REFUSED_ROW.test(code);
      throw new ShadowplaneError(refused ? 'SHADOWPLANE_ERR_STORE_REJECTED' : 'SHADOWPLANE_ERR_STORE_UNAVAILABLE', `SQLite: ${(err as Error).message}`);
    }
  }

  async quarantineWindows(entries: readonly QuarantinedWindow[]): Promise<void> {
    const upsert = this.db.prepare(quarantineUpsertSql('quarantine', () => '?'));
    this.db.transaction(() => {
      for (const q of entries) upsert.run(quarantineParams(q));
    })();
  }

  async listQuarantine(limit: number): Promise<QuarantinedWindow[]> {
    return this.all('SELECT * FROM quarantine ORDER BY last_at DESC, id LIMIT ?', limit).map(quarantineFromDb);
  }

  async quarantineCount(): Promise<number> {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM quarantine').get() as { n: number }).n;
  }

  async loadOpenWindows(): Promise<WindowRow[]> {
    return this.all('SELECT * FROM windows WHERE final = 0').map(windowFromDb);
  }

  async queryWindows(q: WindowQuery): Promise<WindowRow[]> {
    return this.all(
      'SELECT * FROM windows WHERE target = ? AND granularity = ? AND dim = ? AND key = ? AND start >= ? AND start < ? ORDER BY start',
      q.target, q.granularity, q.dim, q.key, q.from, q.to,
    ).map(windowFromDb);
  }

  async topKeys(q: TopQuery): Promise<TopRow[]> {
    // `+start` keeps the planner off windows_age (granularity, start), which it otherwise prefers
    // without statistics: that index scans every target's windows in the range, the primary key
    // only this target's dimension.
    return this.all(
      `SELECT key, SUM(count) AS count, SUM(est_count) AS est_count, SUM(bytes) AS bytes, SUM(est_bytes) AS est_bytes, SUM(errors) AS errors
       FROM windows WHERE target = ? AND granularity = ? AND dim = ? AND +start >= ? AND +start < ?
       GROUP BY key ORDER BY ${topOrder(q.by)} LIMIT ?`,
      q.target, q.granularity, q.dim, q.from, q.to, q.limit,
    ).map(topRowFromDb);
  }

  async deleteWindowsBefore(granularity: number, before: number): Promise<number> {
    return this.db.prepare('DELETE FROM windows WHERE granularity = ? AND start < ? AND final = 1').run(granularity, before).changes;
  }

  async seriesCount(): Promise<number> {
    const row = this.db.prepare('SELECT COUNT(*) AS n FROM (SELECT DISTINCT target, dim, key FROM windows)').get() as { n: number };
    return row.n;
  }

  async listTargets(): Promise<TargetRecord[]> {
    return this.all('SELECT * FROM targets ORDER BY name').map(targetFromDb);
  }

  async getTarget(name: string): Promise<TargetRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM targets WHERE name = ?').get(name) as Record<string, unknown> | undefined;
    return row ? targetFromDb(row) : undefined;
  }

  async putTarget(target: TargetRecord): Promise<void> {
    this.db
      .prepare(`INSERT OR REPLACE INTO targets (${TARGET_COLUMNS.join(', ')}) VALUES (${TARGET_COLUMNS.map(() => '?').join(', ')})`)
      .run(targetParams(target));
  }

  async deleteTarget(name: string): Promise<boolean> {
    return this.db.transaction(() => {
      this.db.prepare('DELETE FROM windows WHERE target = ?').run(name);
      for (const table of TARGET_TABLES) this.db.prepare(`DELETE FROM ${table} WHERE target = ?`).run(name);
      return this.db.prepare('DELETE FROM targets WHERE name = ?').run(name).changes > 0;
    })();
  }

  async putDecision(d: DecisionRecord): Promise<void> {
    this.db.prepare('INSERT OR REPLACE INTO decisions (id, target, at, status, body) VALUES (?, ?, ?, ?, ?)').run(d.id, d.target, d.at, d.status, JSON.stringify(d));
  }

  async getDecision(id: string): Promise<DecisionRecord | undefined> {
    const row = this.db.prepare('SELECT body FROM decisions WHERE id = ?').get(id) as { body: string } | undefined;
    return row && (JSON.parse(row.body) as DecisionRecord);
  }

  async listDecisions(q: DecisionQuery): Promise<DecisionRecord[]> {
    return this.all(
      `SELECT body FROM decisions WHERE target = ? AND at < ? ${q.status ? 'AND status = ?' : ''} ORDER BY at DESC, id DESC LIMIT ?`,
      ...[q.target, q.before ?? Number.MAX_SAFE_INTEGER, ...(q.status ? [q.status] : []), q.limit],
    ).map((r) => JSON.parse(String(r.body)) as DecisionRecord);
  }

  async putCondition(target: string, c: Condition): Promise<void> {
    this.db.prepare('INSERT OR REPLACE INTO conditions (target, type, body) VALUES (?, ?, ?)').run(target, c.type, JSON.stringify(c));
  }

  async listConditions(target: string): Promise<Condition[]> {
    return this.all('SELECT body FROM conditions WHERE target = ? ORDER BY type', target).map((r) => JSON.parse(String(r.body)) as Condition);
  }

  async getControlState(target: string): Promise<ControlState | undefined> {
    const row = this.db.prepare('SELECT body FROM control_state WHERE target = ?').get(target) as { body: string } | undefined;
    return row && (JSON.parse(row.body) as ControlState);
  }

  async putControlState(state: ControlState): Promise<void> {
    this.db.prepare('INSERT OR REPLACE INTO control_state (target, body) VALUES (?, ?)').run(state.target, JSON.stringify(state));
  }

  async appendAudit(e: AuditEntry): Promise<void> {
    this.db.prepare('INSERT INTO audit (id, target, at, body) VALUES (?, ?, ?, ?)').run(e.id, e.target, e.at, JSON.stringify(e));
  }

  async listAudit(target: string, limit: number): Promise<AuditEntry[]> {
    return this.all('SELECT body FROM audit WHERE target = ? ORDER BY at DESC, rowid DESC LIMIT ?', target, limit).map((r) => JSON.parse(String(r.body)) as AuditEntry);
  }

  async putAnomaly(target: string, event: AnomalyEvent, at: number): Promise<void> {
    this.db.prepare(anomalyUpsertSql('anomalies', () => '?')).run(anomalyParams(target, event, at));
  }

  async getAnomaly(id: string): Promise<AnomalyRecord | undefined> {
    const row = this.db.prepare('SELECT * FROM anomalies WHERE id = ?').get(id) as Record<string, unknown> | undefined;
    return row && anomalyFromDb(row);
  }

  async listAnomalies(q: AnomalyQuery): Promise<AnomalyRecord[]> {
    const { sql, params } = anomalyListSql('anomalies', q, () => '?');
    return this.all(sql, ...params).map(anomalyFromDb);
  }

  async setAnomalyTriage(id: string, from: TriageState, to: TriageState, c: TriageChange): Promise<boolean> {
    const { sql, params } = anomalyTriageSql('anomalies', () => '?', id, from, to, c);
    return this.db.prepare(sql).run(...params).changes > 0;
  }

  async putCapacityRun(r: CapacityRun): Promise<void> {
    this.db.prepare(capacityRunUpsertSql('capacity_runs', () => '?')).run(r.id, r.target, r.at, r.status, JSON.stringify(r));
  }

  async getCapacityRun(id: string): Promise<CapacityRun | undefined> {
    const row = this.db.prepare('SELECT body FROM capacity_runs WHERE id = ?').get(id) as { body: string } | undefined;
    return row && (JSON.parse(row.body) as CapacityRun);
  }

  async listCapacityRuns(target: string, limit: number): Promise<CapacityRun[]> {
    return this.all(capacityRunListSql('capacity_runs', () => '?'), target, limit).map((r) => JSON.parse(String(r.body)) as CapacityRun);
  }

  async sizeBytes(): Promise<number> {
    if (this.path === ':memory:') return 0;
    const size = (p: string) => {
      try {
        return statSync(p).size;
      } catch {
        return 0;
      }
    };
    return size(this.path) + size(`${this.path}-wal`);
  }

  async close(): Promise<void> {
    for (const thread of this.threads) await thread.close();
    if (this.db.open) this.db.close();
  }

  private all(sql: string, ...params: unknown[]): Record<string, unknown>[] {
    return this.db.prepare(sql).all(...params) as Record<string, unknown>[];
  }
}
