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
import { capacityRunListSql, capacityRunsSchema, capacityRunUpsertSql, TARGET_TABLES, anomalyFromDb, anomalyLastColumnSql, anomalyListSql, anomalyParams, openAnomalyCountSql, anomalyTriageSql, anomalyUpsertSql, CONTROL_SCHEMA, quarantineFromDb, quarantineParams, quarantineUpsertSql, TARGET_COLUMNS, WINDOW_SELECT, WINDOW_UPSERT_SET, WINDOW_VALUE_COLUMNS, targetFromDb, targetParams, topOrder, topRowFromDb, windowFromDb } from './sql.js';
import { migrate, migrationsTableSql, type Migration, type MigrationDriver, type MigrationTx } from './migrate.js';
import type { QuarantinedWindow } from './quarantine.js';
import { INTS, NUMBERS, packedWindows, type WindowWrite } from './row-pack.js';
import { SqliteThread } from './sqlite-thread.js';
import type { WindowRow } from './window.js';

/**
 * Series ids the store keeps in memory at most (about 100 B each): past this the cache starts
 * over, and ids are read back from the `series` table as rows need them.
 */
const SERIES_CACHE_LIMIT = 500_000;

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

/**
 * Schema version 3: each distinct series (target, dim, key) once in `series`, windows keyed by
 * (series id, granularity, start) and no `(granularity, start)` index (retention deletes walk the
 * primary key series by series). Existing windows are copied over.
 */
const SCHEMA_V3 = `
CREATE TABLE series (id INTEGER PRIMARY KEY, target TEXT NOT NULL, dim TEXT NOT NULL, key TEXT NOT NULL, UNIQUE (target, dim, key));
INSERT INTO series (target, dim, key) SELECT DISTINCT target, dim, key FROM windows ORDER BY target, dim, key;
CREATE TABLE windows_v3 (
  series INTEGER NOT NULL, granularity INTEGER NOT NULL, start INTEGER NOT NULL,
  final INTEGER NOT NULL, count REAL NOT NULL, est_count REAL NOT NULL, bytes REAL NOT NULL, est_bytes REAL NOT NULL,
  rows REAL NOT NULL, errors REAL NOT NULL, est_errors REAL NOT NULL, sum REAL NOT NULL, min REAL, max REAL,
  peak REAL NOT NULL, rate REAL NOT NULL, last REAL, last_at INTEGER NOT NULL, sketch BLOB NOT NULL,
  PRIMARY KEY (series, granularity, start)
) WITHOUT ROWID;
INSERT INTO windows_v3 SELECT s.id, w.granularity, w.start, ${WINDOW_VALUE_COLUMNS.map((c) => `w.${c}`).join(', ')}
  FROM windows w JOIN series s ON s.target = w.target AND s.dim = w.dim AND s.key = w.key ORDER BY 1, 2, 3;
DROP TABLE windows;
ALTER TABLE windows_v3 RENAME TO windows;
CREATE INDEX windows_open ON windows (final) WHERE final = 0`;

/** Runs a script of `;`-separated statements in a migration. */
async function execScript(tx: MigrationTx, script: string): Promise<void> {
  for (const sql of script.split(';').map((s) => s.trim()).filter((s) => s !== '')) await tx.exec(sql);
}

/** The SQLite schema's versions, in order (see migrate.ts); add a step at the end, never edit one. */
export const SQLITE_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'windows, targets, control tables, anomalies, quarantine',
    async up(tx) {
      await execScript(tx, SCHEMA_V1);
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
  {
    version: 3,
    name: 'series dictionary; windows keyed by series id, without the (granularity, start) index',
    up: (tx) => execScript(tx, SCHEMA_V3),
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
  'init', 'writeWindows', 'quarantineWindows', 'deleteWindowsBefore', 'deleteEmptySeries', 'putTarget', 'deleteTarget', 'putDecision', 'putCondition',
  'putControlState', 'appendAudit', 'putAnomaly', 'setAnomalyTriage', 'putCapacityRun',
] as const satisfies readonly (keyof ShadowStore)[];
const READS = [
  'listQuarantine', 'quarantineCount', 'loadOpenWindows', 'queryWindows', 'topKeys', 'seriesCount', 'listTargets', 'getTarget', 'getDecision',
  'listDecisions', 'listConditions', 'getControlState', 'listAudit', 'getAnomaly', 'listAnomalies', 'openAnomalyCounts', 'getCapacityRun', 'listCapacityRuns',
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
  /**
   * Series ids as the `series` table holds them, by target, dimension and key: a flush looks up
   * hundreds of thousands of series, and with maps by the strings themselves (each hashed once per
   * batch) no key is built for each window.
   */
  private readonly seriesIds = new Map<string, Map<string, Map<string, number>>>();
  /** Ids in seriesIds. */
  private seriesIdCount = 0;
  /** Prepared statements by their SQL (see prepare()). */
  private readonly statements = new Map<string, Database.Statement>();

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
      // Windows go packed, in shared memory: nothing to clone object by object (row-pack.ts).
      this.writeWindows = async (windows) => {
        if (windows.length === 0) return;
        await writer.call('writeWindows', [packedWindows(windows).data()]);
      };
    }
  }

  /** Brings the schema to the last of SQLITE_MIGRATIONS. */
  async init(): Promise<void> {
    await migrate(sqliteMigrationDriver(this.db), SQLITE_MIGRATIONS, Date.now);
  }

  async writeWindows(windows: WindowWrite): Promise<void> {
    if (windows.length === 0) return;
    // Bound straight from the packed arrays: no row object per window.
    const packed = packedWindows(windows);
    const insert = this.prepare(
      `INSERT INTO windows (series, granularity, start, ${WINDOW_VALUE_COLUMNS.join(', ')}) VALUES (${['?', '?', '?', ...WINDOW_VALUE_COLUMNS.map(() => '?')].join(', ')})
       ON CONFLICT (series, granularity, start) DO UPDATE SET ${WINDOW_UPSERT_SET}`,
    );
    const select = this.prepare('SELECT id FROM series WHERE target = ? AND dim = ? AND key = ?');
    const create = this.prepare('INSERT INTO series (target, dim, key) VALUES (?, ?, ?)');
    // Ids of series created or read by this transaction join the cache only once it commits.
    const created: [string, string, string, number][] = [];
    const { strings, ints, numbers } = packed;
    // The batch's own ids, by string index of target, then dim and key strings.
    const batch = new Array<Map<string, Map<string, number>> | undefined>(strings.length);
    const seriesId = (r: number): number => {
      const ib = r * INTS;
      const t = ints[ib];
      const target = strings[t];
      const dim = strings[ints[ib + 1]];
      const key = strings[ints[ib + 2]];
      let id = this.seriesIds.get(target)?.get(dim)?.get(key) ?? batch[t]?.get(dim)?.get(key);
      if (id === undefined) {
        const found = select.get(target, dim, key) as { id: number } | undefined;
        id = found?.id ?? Number(create.run(target, dim, key).lastInsertRowid);
        const byDim = (batch[t] ??= new Map());
        let byKey = byDim.get(dim);
        if (!byKey) byDim.set(dim, (byKey = new Map()));
        byKey.set(key, id);
        created.push([target, dim, key, id]);
      }
      return id;
    };
    const nullIfNan = (v: number) => (Number.isNaN(v) ? null : v);
    try {
      this.db.transaction(() => {
        for (let r = 0; r < packed.count; r++) {
          const nb = r * NUMBERS;
          // NUMBER_FIELDS order: granularity, start, then the values in WINDOW_VALUE_COLUMNS order.
          insert.run(
            seriesId(r), numbers[nb], numbers[nb + 1], ints[r * INTS + 3],
            numbers[nb + 2], numbers[nb + 3], numbers[nb + 4], numbers[nb + 5], numbers[nb + 6], numbers[nb + 7], numbers[nb + 8], numbers[nb + 9],
            nullIfNan(numbers[nb + 10]), nullIfNan(numbers[nb + 11]), numbers[nb + 12], numbers[nb + 13], nullIfNan(numbers[nb + 14]), numbers[nb + 15],
            packed.sketch(r),
          );
        }
      })();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      const refused = typeof code === 'string' && REFUSED_ROW.test(code);
      throw new ShadowplaneError(refused ? 'SHADOWPLANE_ERR_STORE_REJECTED' : 'SHADOWPLANE_ERR_STORE_UNAVAILABLE', `SQLite: ${(err as Error).message}`);
    }
    if (this.seriesIdCount + created.length > SERIES_CACHE_LIMIT) {
      this.seriesIds.clear();
      this.seriesIdCount = 0;
    }
    for (const [target, dim, key, id] of created) {
      let byDim = this.seriesIds.get(target);
      if (!byDim) this.seriesIds.set(target, (byDim = new Map()));
      let byKey = byDim.get(dim);
      if (!byKey) byDim.set(dim, (byKey = new Map()));
      if (!byKey.has(key)) this.seriesIdCount++;
      byKey.set(key, id);
    }
  }

  async quarantineWindows(entries: readonly QuarantinedWindow[]): Promise<void> {
    const upsert = this.prepare(quarantineUpsertSql('quarantine', () => '?'));
    this.db.transaction(() => {
      for (const q of entries) upsert.run(quarantineParams(q));
    })();
  }

  async listQuarantine(limit: number): Promise<QuarantinedWindow[]> {
    return this.all('SELECT * FROM quarantine ORDER BY last_at DESC, id LIMIT ?', limit).map(quarantineFromDb);
  }

  async quarantineCount(): Promise<number> {
    return (this.prepare('SELECT COUNT(*) AS n FROM quarantine').get() as { n: number }).n;
  }

  async loadOpenWindows(): Promise<WindowRow[]> {
    return this.all(`SELECT ${WINDOW_SELECT} FROM windows w JOIN series s ON s.id = w.series WHERE w.final = 0`).map(windowFromDb);
  }

  async queryWindows(q: WindowQuery): Promise<WindowRow[]> {
    return this.all(
      `SELECT ${WINDOW_SELECT} FROM series s JOIN windows w ON w.series = s.id
       WHERE s.target = ? AND s.dim = ? AND s.key = ? AND w.granularity = ? AND w.start >= ? AND w.start < ? ORDER BY w.start`,
      q.target, q.dim, q.key, q.granularity, q.from, q.to,
    ).map(windowFromDb);
  }

  async topKeys(q: TopQuery): Promise<TopRow[]> {
    return this.all(
      `SELECT s.key, SUM(w.count) AS count, SUM(w.est_count) AS est_count, SUM(w.bytes) AS bytes, SUM(w.est_bytes) AS est_bytes, SUM(w.errors) AS errors
       FROM series s JOIN windows w ON w.series = s.id
       WHERE s.target = ? AND s.dim = ? AND w.granularity = ? AND w.start >= ? AND w.start < ?
       GROUP BY s.key ORDER BY ${topOrder(q.by)} LIMIT ?`,
      q.target, q.dim, q.granularity, q.from, q.to, q.limit,
    ).map(topRowFromDb);
  }

  async deleteWindowsBefore(granularity: number, before: number): Promise<number> {
    // Series by series through the primary key: no index on (granularity, start) to keep up.
    return this.db
      .prepare('DELETE FROM windows WHERE series IN (SELECT id FROM series) AND granularity = ? AND start < ? AND final = 1')
      .run(granularity, before).changes;
  }

  async deleteEmptySeries(): Promise<number> {
    // One search of the windows' primary key (series first) per series; the writer's cache of ids
    // starts over, as after deleting a target.
    const deleted = this.db.prepare('DELETE FROM series WHERE NOT EXISTS (SELECT 1 FROM windows w WHERE w.series = series.id)').run().changes;
    if (deleted > 0) this.seriesIds.clear();
    return deleted;
  }

  async seriesCount(): Promise<number> {
    const row = this.prepare('SELECT COUNT(*) AS n FROM series s WHERE EXISTS (SELECT 1 FROM windows w WHERE w.series = s.id)').get() as { n: number };
    return row.n;
  }

  async listTargets(): Promise<TargetRecord[]> {
    return this.all('SELECT * FROM targets ORDER BY name').map(targetFromDb);
  }

  async getTarget(name: string): Promise<TargetRecord | undefined> {
    const row = this.prepare('SELECT * FROM targets WHERE name = ?').get(name) as Record<string, unknown> | undefined;
    return row ? targetFromDb(row) : undefined;
  }

  async putTarget(target: TargetRecord): Promise<void> {
    this.db
      .prepare(`INSERT OR REPLACE INTO targets (${TARGET_COLUMNS.join(', ')}) VALUES (${TARGET_COLUMNS.map(() => '?').join(', ')})`)
      .run(targetParams(target));
  }

  async deleteTarget(name: string): Promise<boolean> {
    return this.db.transaction(() => {
      this.prepare('DELETE FROM windows WHERE series IN (SELECT id FROM series WHERE target = ?)').run(name);
      this.prepare('DELETE FROM series WHERE target = ?').run(name);
      this.seriesIds.clear();
      this.seriesIdCount = 0;
      for (const table of TARGET_TABLES) this.prepare(`DELETE FROM ${table} WHERE target = ?`).run(name);
      return this.prepare('DELETE FROM targets WHERE name = ?').run(name).changes > 0;
    })();
  }

  async putDecision(d: DecisionRecord): Promise<void> {
    this.prepare('INSERT OR REPLACE INTO decisions (id, target, at, status, body) VALUES (?, ?, ?, ?, ?)').run(d.id, d.target, d.at, d.status, JSON.stringify(d));
  }

  async getDecision(id: string): Promise<DecisionRecord | undefined> {
    const row = this.prepare('SELECT body FROM decisions WHERE id = ?').get(id) as { body: string } | undefined;
    return row && (JSON.parse(row.body) as DecisionRecord);
  }

  async listDecisions(q: DecisionQuery): Promise<DecisionRecord[]> {
    return this.all(
      `SELECT body FROM decisions WHERE target = ? AND at < ? ${q.status ? 'AND status = ?' : ''} ORDER BY at DESC, id DESC LIMIT ?`,
      ...[q.target, q.before ?? Number.MAX_SAFE_INTEGER, ...(q.status ? [q.status] : []), q.limit],
    ).map((r) => JSON.parse(String(r.body)) as DecisionRecord);
  }

  async putCondition(target: string, c: Condition): Promise<void> {
    this.prepare('INSERT OR REPLACE INTO conditions (target, type, body) VALUES (?, ?, ?)').run(target, c.type, JSON.stringify(c));
  }

  async listConditions(target: string): Promise<Condition[]> {
    return this.all('SELECT body FROM conditions WHERE target = ? ORDER BY type', target).map((r) => JSON.parse(String(r.body)) as Condition);
  }

  async getControlState(target: string): Promise<ControlState | undefined> {
    const row = this.prepare('SELECT body FROM control_state WHERE target = ?').get(target) as { body: string } | undefined;
    return row && (JSON.parse(row.body) as ControlState);
  }

  async putControlState(state: ControlState): Promise<void> {
    this.prepare('INSERT OR REPLACE INTO control_state (target, body) VALUES (?, ?)').run(state.target, JSON.stringify(state));
  }

  async appendAudit(e: AuditEntry): Promise<void> {
    this.prepare('INSERT INTO audit (id, target, at, body) VALUES (?, ?, ?, ?)').run(e.id, e.target, e.at, JSON.stringify(e));
  }

  async listAudit(target: string, limit: number): Promise<AuditEntry[]> {
    return this.all('SELECT body FROM audit WHERE target = ? ORDER BY at DESC, rowid DESC LIMIT ?', target, limit).map((r) => JSON.parse(String(r.body)) as AuditEntry);
  }

  async putAnomaly(target: string, event: AnomalyEvent, at: number): Promise<void> {
    this.prepare(anomalyUpsertSql('anomalies', () => '?')).run(anomalyParams(target, event, at));
  }

  async getAnomaly(id: string): Promise<AnomalyRecord | undefined> {
    const row = this.prepare('SELECT * FROM anomalies WHERE id = ?').get(id) as Record<string, unknown> | undefined;
    return row && anomalyFromDb(row);
  }

  async listAnomalies(q: AnomalyQuery): Promise<AnomalyRecord[]> {
    const { sql, params } = anomalyListSql('anomalies', q, () => '?');
    return this.all(sql, ...params).map(anomalyFromDb);
  }

  async openAnomalyCounts(target?: string): Promise<Record<string, number>> {
    const { sql, params } = openAnomalyCountSql('anomalies', target, () => '?');
    return Object.fromEntries(this.all(sql, ...params).map((r) => [String(r.target), Number(r.n)]));
  }

  async setAnomalyTriage(id: string, from: TriageState, to: TriageState, c: TriageChange): Promise<boolean> {
    const { sql, params } = anomalyTriageSql('anomalies', () => '?', id, from, to, c);
    return this.prepare(sql).run(...params).changes > 0;
  }

  async putCapacityRun(r: CapacityRun): Promise<void> {
    this.prepare(capacityRunUpsertSql('capacity_runs', () => '?')).run(r.id, r.target, r.at, r.status, JSON.stringify(r));
  }

  async getCapacityRun(id: string): Promise<CapacityRun | undefined> {
    const row = this.prepare('SELECT body FROM capacity_runs WHERE id = ?').get(id) as { body: string } | undefined;
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
    return this.prepare(sql).all(...params) as Record<string, unknown>[];
  }

  /**
   * The statement of `sql`, prepared once per connection: a fleet's loops run the same few
   * statements tens of thousands of times, and preparing one costs more than running it.
   */
  private prepare(sql: string): Database.Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }
}
