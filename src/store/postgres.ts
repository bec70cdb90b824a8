/**
 * The Shadow Store on PostgreSQL, for more than one machine. Tables live in a configurable schema
 * (created if missing), so several deployments or test runs can share one database.
 */
import pg from 'pg';
import { ShadowplaneError } from '../core/errors.js';
import type { AuditEntry, Condition, ControlState, DecisionRecord } from '../model/decision.js';
import type { CapacityRun } from '../model/capacity.js';
import type { AnomalyEvent, AnomalyRecord, TriageChange, TriageState } from '../model/detect.js';
import type { AnomalyQuery, DecisionQuery, ShadowStore, TargetRecord, TopQuery, TopRow, WindowQuery } from './store.js';
import { capacityRunListSql, capacityRunsSchema, capacityRunUpsertSql, TARGET_TABLES, anomalyFromDb, anomalyLastColumnSql, anomalyListSql, anomalyParams, anomalyTriageSql, anomalyUpsertSql, controlSchema, quarantineFromDb, quarantineParams, quarantineSchema, quarantineUpsertSql, TARGET_COLUMNS, packWindowValues, seriesKey, targetFromDb, targetParams, topOrder, topRowFromDb, unpackWindowValues, windowFromDb } from './sql.js';
import { migrate, migrationsTableSql, type Migration, type MigrationTx } from './migrate.js';
import { createPartitionTables } from './partitions.js';
import { PostgresLease, type Owner } from './owner.js';
import type { QuarantinedWindow } from './quarantine.js';
import { windowRows, type WindowWrite } from './row-pack.js';
import type { WindowRow } from './window.js';

// BIGINT columns hold ms timestamps, well inside 2^53: read them as numbers.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/** Rows per INSERT statement: each statement sends one array per column. */
const ROWS_PER_STATEMENT = 5000;

/**
 * The columns of a window after its key (series id, granularity, start): those top-keys queries sum,
 * `final`, and the rest packed in one byte string (packWindowValues).
 */
const VALUE_COLUMNS = ['count', 'est_count', 'bytes', 'est_bytes', 'errors', 'final', 'packed'] as const;
/** The upsert's update list. */
const UPSERT_SET = VALUE_COLUMNS.map((c) => `${c} = excluded.${c}`).join(', ');
/** The select list of a windows query joined to its series (`w`, `s`); windowFromPg reads it. */
const SELECT = `s.target, w.granularity, s.dim, s.key, w.start, ${VALUE_COLUMNS.map((c) => `w.${c}`).join(', ')}`;
/** PostgreSQL array types of what a window write sends: the series, its key, then VALUE_COLUMNS. */
const WRITE_TYPES = ['text', 'text', 'text', 'int', 'bigint', 'float8', 'float8', 'float8', 'float8', 'float8', 'boolean', 'bytea'] as const;

/** A window as the arrays' entries in WRITE_TYPES order. */
function writeValues(r: WindowRow): unknown[] {
  return [r.target, r.dim, r.key, r.granularity, r.start, r.count, r.estCount, r.bytes, r.estBytes, r.errors, r.final, packWindowValues(r)];
}

/** A row of SELECT as a WindowRow. */
function windowFromPg(r: Record<string, unknown>): WindowRow {
  return { ...windowFromDb(r), ...unpackWindowValues(r.packed as Buffer) };
}

/**
 * The upsert of windows given as one array per column (WRITE_TYPES, placeholders $1..) into
 * `windows`, joined to their ids in `series`: new series must be in it already.
 */
function upsertWindowsSql(windows: string, series: string): string {
  const columns = ['target', 'dim', 'key', 'granularity', 'start', ...VALUE_COLUMNS];
  return `INSERT INTO ${windows} (series, granularity, start, ${VALUE_COLUMNS.join(', ')})
    SELECT s.id, i.granularity, i.start, ${VALUE_COLUMNS.map((c) => `i.${c}`).join(', ')}
    FROM unnest(${WRITE_TYPES.map((t, i) => `$${i + 1}::${t}[]`).join(', ')}) AS i(${columns.join(', ')})
    JOIN ${series} s ON s.target = i.target AND s.dim = i.dim AND s.key = i.key
    ON CONFLICT (series, granularity, start) DO UPDATE SET ${UPSERT_SET}`;
}

/** The insert of new series given as arrays of target, dim and key ($1..$3). */
function insertSeriesSql(series: string): string {
  return `INSERT INTO ${series} (target, dim, key) SELECT DISTINCT target, dim, key FROM unnest($1::text[], $2::text[], $3::text[]) AS i(target, dim, key)
    ON CONFLICT (target, dim, key) DO NOTHING`;
}

/** Window rows as one array per WRITE_TYPES column. */
function columnArrays(rows: readonly WindowRow[]): unknown[][] {
  const params: unknown[][] = WRITE_TYPES.map(() => new Array<unknown>(rows.length));
  rows.forEach((row, r) => writeValues(row).forEach((v, c) => (params[c][r] = v)));
  return params;
}

/** Where the PostgreSQL store lives. */
export interface PostgresStoreOptions {
  /** A libpq connection URL, e.g. `postgres://127.0.0.1:5432/postgres`. */
  url: string;
  /** Schema holding the tables; created if missing. */
  schema: string;
}

/** Shadow Store on PostgreSQL. */
export class PostgresStore implements ShadowStore {
  readonly backend = 'postgres';
  private readonly pool: pg.Pool;
  private readonly windows: string;
  private readonly series: string;
  private readonly targets: string;
  private readonly schema: string;
  /** The lease handed out by openLease(); window writes are fenced by its token. */
  private lease: PostgresLease | undefined;

  constructor(private readonly options: PostgresStoreOptions) {
    this.pool = new pg.Pool({ connectionString: options.url, max: 4, connectionTimeoutMillis: 5000 });
    // An idle client losing its server must not crash the service; the next query reports it.
    this.pool.on('error', () => undefined);
    const schema = `"${options.schema.replaceAll('"', '""')}"`;
    this.schema = schema;
    this.windows = `${schema}.windows`;
    this.series = `${schema}.series`;
    this.targets = `${schema}.targets`;
  }

  /** Creates the schema if missing and brings it to the last of postgresMigrations(). */
  async init(): Promise<void> {
    await this.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
    const table = `${this.schema}.schema_migrations`;
    // One lock per schema: replicas starting together migrate one after the other.
    const lockKey = `shadowplane-migrate:${this.options.schema}`;
    await migrate({
      table,
      placeholder: dollar,
      ensureTable: () => this.transaction(lockKey, (client) => client.query(migrationsTableSql(table, 'BIGINT')).then(() => undefined)),
      transaction: (fn) => this.transaction(lockKey, (client) => fn({
        exec: async (sql, params) => void (await client.query(sql, params)),
        all: async (sql, params) => (await client.query(sql, params)).rows as Record<string, unknown>[],
      })),
    }, postgresMigrations(this.schema), Date.now);
  }

  /** Runs `fn` on one client in a transaction holding the advisory lock `lockKey`. */
  private async transaction(lockKey: string, fn: (client: pg.PoolClient) => Promise<void>): Promise<void> {
    const client = await this.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [lockKey]);
      await fn(client);
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw unavailable(err);
    } finally {
      client.release();
    }
  }

  /**
   * Writes in statements of ROWS_PER_STATEMENT rows, each column as one array parameter: new series
   * go into the dictionary first, then the windows are upserted joined to their series ids. A row
   * given twice is written once, the last one winning (as a row-by-row upsert would).
   */
  async writeWindows(rows: WindowWrite): Promise<void> {
    if (rows.length === 0) return;
    const lease = this.lease;
    await this.writeWindowsWith(rows, async (tx) => {
      if (lease) await this.fence(tx, lease.token);
    });
  }

  /**
   * Upserts `rows` as `writeWindows` does, in one transaction that runs `first` before them: a
   * fence of the writer's own (it throws to write nothing) and what must commit with the windows,
   * such as an ingest partition's high-water mark (src/store/partitions.ts). Runs `first` even
   * without rows.
   */
  async writeWindowsWith(rows: WindowWrite, first: (tx: MigrationTx) => Promise<void>): Promise<void> {
    const unique = [...new Map(windowRows(rows).map((r) => [`${seriesKey(r)}\u0000${r.granularity}\u0000${r.start}`, r])).values()];
    const client = await this.connect();
    try {
      await client.query('BEGIN');
      await first({
        exec: async (sql, params) => void (await client.query(sql, params)),
        all: async (sql, params) => (await client.query(sql, params)).rows as Record<string, unknown>[],
      });
      for (let i = 0; i < unique.length; i += ROWS_PER_STATEMENT) {
        const params = columnArrays(unique.slice(i, i + ROWS_PER_STATEMENT));
        await client.query(insertSeriesSql(this.series), params.slice(0, 3));
        await client.query(upsertWindowsSql(this.windows, this.series), params);
      }
      await client.query('COMMIT');
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw refusedOrUnavailable(err);
    } finally {
      client.release();
    }
  }

  async quarantineWindows(entries: readonly QuarantinedWindow[]): Promise<void> {
    const sql = quarantineUpsertSql(`${this.schema}.quarantine`, dollar);
    for (const q of entries) await this.query(sql, quarantineParams(q));
  }

  async listQuarantine(limit: number): Promise<QuarantinedWindow[]> {
    return (await this.query(`SELECT * FROM ${this.schema}.quarantine ORDER BY last_at DESC, id LIMIT $1`, [limit])).map(quarantineFromDb);
  }

  async quarantineCount(): Promise<number> {
    const [row] = await this.query(`SELECT COUNT(*) AS n FROM ${this.schema}.quarantine`);
    return Number(row.n);
  }

  async loadOpenWindows(): Promise<WindowRow[]> {
    return (await this.query(`SELECT ${SELECT} FROM ${this.windows} w JOIN ${this.series} s ON s.id = w.series WHERE NOT w.final`)).map(windowFromPg);
  }

  async queryWindows(q: WindowQuery): Promise<WindowRow[]> {
    return (
      await this.query(
        `SELECT ${SELECT} FROM ${this.series} s JOIN ${this.windows} w ON w.series = s.id
         WHERE s.target = $1 AND s.dim = $2 AND s.key = $3 AND w.granularity = $4 AND w.start >= $5 AND w.start < $6 ORDER BY w.start`,
        [q.target, q.dim, q.key, q.granularity, q.from, q.to],
      )
    ).map(windowFromPg);
  }

  async topKeys(q: TopQuery): Promise<TopRow[]> {
    const rows = await this.query(
      `SELECT s.key, SUM(w.count) AS count, SUM(w.est_count) AS est_count, SUM(w.bytes) AS bytes, SUM(w.est_bytes) AS est_bytes, SUM(w.errors) AS errors
       FROM ${this.series} s JOIN ${this.windows} w ON w.series = s.id
       WHERE s.target = $1 AND s.dim = $2 AND w.granularity = $3 AND w.start >= $4 AND w.start < $5
       GROUP BY s.key ORDER BY ${topOrder(q.by)} LIMIT $6`,
      [q.target, q.dim, q.granularity, q.from, q.to, q.limit],
    );
    return rows.map(topRowFromDb);
  }

  async deleteWindowsBefore(granularity: number, before: number): Promise<number> {
    const client = await this.connect();
    try {
      const res = await client.query(
        `DELETE FROM ${this.windows} WHERE series IN (SELECT id FROM ${this.series}) AND granularity = $1 AND start < $2 AND final`,
        [granularity, before],
      );
      return res.rowCount ?? 0;
    } catch (err) {
      throw unavailable(err);
    } finally {
      client.release();
    }
  }

  async seriesCount(): Promise<number> {
    const [row] = await this.query(`SELECT COUNT(*) AS n FROM ${this.series} s WHERE EXISTS (SELECT 1 FROM ${this.windows} w WHERE w.series = s.id)`);
    return Number(row.n);
  }

  async listTargets(): Promise<TargetRecord[]> {
    return (await this.query(`SELECT * FROM ${this.targets} ORDER BY name`)).map(targetFromDb);
  }

  async getTarget(name: string): Promise<TargetRecord | undefined> {
    const [row] = await this.query(`SELECT * FROM ${this.targets} WHERE name = $1`, [name]);
    return row ? targetFromDb(row) : undefined;
  }

  async putTarget(target: TargetRecord): Promise<void> {
    const set = TARGET_COLUMNS.slice(1).map((c) => `${c} = excluded.${c}`).join(', ');
    await this.query(
      `INSERT INTO ${this.targets} (${TARGET_COLUMNS.join(', ')}) VALUES (${TARGET_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})
       ON CONFLICT (name) DO UPDATE SET ${set}`,
      targetParams(target),
    );
  }

  async deleteTarget(name: string): Promise<boolean> {
    const client = await this.connect();
    try {
      await client.query('BEGIN');
      await client.query(`DELETE FROM ${this.windows} WHERE series IN (SELECT id FROM ${this.series} WHERE target = $1)`, [name]);
      await client.query(`DELETE FROM ${this.series} WHERE target = $1`, [name]);
      for (const table of TARGET_TABLES) await client.query(`DELETE FROM ${this.schema}.${table} WHERE target = $1`, [name]);
      const res = await client.query(`DELETE FROM ${this.targets} WHERE name = $1`, [name]);
      await client.query('COMMIT');
      return (res.rowCount ?? 0) > 0;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw unavailable(err);
    } finally {
      client.release();
    }
  }

  async putDecision(d: DecisionRecord): Promise<void> {
    await this.query(
      `INSERT INTO ${this.schema}.decisions (id, target, at, status, body) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (id) DO UPDATE SET status = excluded.status, body = excluded.body`,
      [d.id, d.target, d.at, d.status, JSON.stringify(d)],
    );
  }

  async getDecision(id: string): Promise<DecisionRecord | undefined> {
    const [row] = await this.query(`SELECT body FROM ${this.schema}.decisions WHERE id = $1`, [id]);
    return row && (JSON.parse(String(row.body)) as DecisionRecord);
  }

  async listDecisions(q: DecisionQuery): Promise<DecisionRecord[]> {
    const params: unknown[] = [q.target, q.before ?? Number.MAX_SAFE_INTEGER, q.limit];
    if (q.status) params.push(q.status);
    const rows = await this.query(
      `SELECT body FROM ${this.schema}.decisions WHERE target = $1 AND at < $2 ${q.status ? 'AND status = $4' : ''} ORDER BY at DESC, id DESC LIMIT $3`,
      params,
    );
    return rows.map((r) => JSON.parse(String(r.body)) as DecisionRecord);
  }

  async putCondition(target: string, c: Condition): Promise<void> {
    await this.query(
      `INSERT INTO ${this.schema}.conditions (target, type, body) VALUES ($1, $2, $3) ON CONFLICT (target, type) DO UPDATE SET body = excluded.body`,
      [target, c.type, JSON.stringify(c)],
    );
  }

  async listConditions(target: string): Promise<Condition[]> {
    return (await this.query(`SELECT body FROM ${this.schema}.conditions WHERE target = $1 ORDER BY type`, [target])).map((r) => JSON.parse(String(r.body)) as Condition);
  }

  async getControlState(target: string): Promise<ControlState | undefined> {
    const [row] = await this.query(`SELECT body FROM ${this.schema}.control_state WHERE target = $1`, [target]);
    return row && (JSON.parse(String(row.body)) as ControlState);
  }

  async putControlState(state: ControlState): Promise<void> {
    await this.query(
      `INSERT INTO ${this.schema}.control_state (target, body) VALUES ($1, $2) ON CONFLICT (target) DO UPDATE SET body = excluded.body`,
      [state.target, JSON.stringify(state)],
    );
  }

  async appendAudit(e: AuditEntry): Promise<void> {
    await this.query(`INSERT INTO ${this.schema}.audit (id, target, at, body) VALUES ($1, $2, $3, $4)`, [e.id, e.target, e.at, JSON.stringify(e)]);
  }

  async listAudit(target: string, limit: number): Promise<AuditEntry[]> {
    return (await this.query(`SELECT body FROM ${this.schema}.audit WHERE target = $1 ORDER BY at DESC, seq DESC LIMIT $2`, [target, limit])).map((r) => JSON.parse(String(r.body)) as AuditEntry);
  }

  async putAnomaly(target: string, event: AnomalyEvent, at: number): Promise<void> {
    await this.query(anomalyUpsertSql(`${this.schema}.anomalies`, dollar), anomalyParams(target, event, at));
  }

  async getAnomaly(id: string): Promise<AnomalyRecord | undefined> {
    const [row] = await this.query(`SELECT * FROM ${this.schema}.anomalies WHERE id = $1`, [id]);
    return row && anomalyFromDb(row);
  }

  async listAnomalies(q: AnomalyQuery): Promise<AnomalyRecord[]> {
    const { sql, params } = anomalyListSql(`${this.schema}.anomalies`, q, dollar);
    return (await this.query(sql, params)).map(anomalyFromDb);
  }

  async setAnomalyTriage(id: string, from: TriageState, to: TriageState, c: TriageChange): Promise<boolean> {
    const { sql, params } = anomalyTriageSql(`${this.schema}.anomalies`, dollar, id, from, to, c);
    try {
      const res = await this.pool.query(sql, params);
      return (res.rowCount ?? 0) > 0;
    } catch (err) {
      throw unavailable(err);
    }
  }

  openLease(owner: Owner, onLost: (reason: string) => void): PostgresLease {
    this.lease = new PostgresLease({ url: this.options.url, schema: this.options.schema, owner, onLost });
    return this.lease;
  }

  /**
   * Fails the write transaction unless the `owner` row still carries `token`. The row stays locked
   * (FOR SHARE) until the transaction ends, so a standby taking over waits for this write to commit
   * before it reads the windows, and a write after the take-over is refused.
   */
  private async fence(tx: MigrationTx, token: string): Promise<void> {
    const held = await tx.all(`SELECT 1 FROM ${this.schema}.owner WHERE id = 1 AND token = $1 FOR SHARE`, [token]);
    if (held.length === 0) throw new ShadowplaneError('SHADOWPLANE_ERR_STORE_UNAVAILABLE', 'this instance no longer holds the store\'s lease: another instance owns the store');
  }

  async putCapacityRun(r: CapacityRun): Promise<void> {
    await this.query(capacityRunUpsertSql(`${this.schema}.capacity_runs`, (i) => `$${i}`), [r.id, r.target, r.at, r.status, JSON.stringify(r)]);
  }

  async getCapacityRun(id: string): Promise<CapacityRun | undefined> {
    const [row] = await this.query(`SELECT body FROM ${this.schema}.capacity_runs WHERE id = $1`, [id]);
    return row && (JSON.parse(String(row.body)) as CapacityRun);
  }

  async listCapacityRuns(target: string, limit: number): Promise<CapacityRun[]> {
    return (await this.query(capacityRunListSql(`${this.schema}.capacity_runs`, (i) => `$${i}`), [target, limit])).map((r) => JSON.parse(String(r.body)) as CapacityRun);
  }

  async sizeBytes(): Promise<number> {
    const [row] = await this.query(
      `SELECT pg_total_relation_size('${this.windows}') + pg_total_relation_size('${this.series}') + pg_total_relation_size('${this.targets}') AS n`,
    );
    return Number(row.n);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /** Drops the schema and everything in it (tests and `reset` use it). */
  async dropSchema(): Promise<void> {
    await this.query(`DROP SCHEMA IF EXISTS "${this.options.schema.replaceAll('"', '""')}" CASCADE`);
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      throw unavailable(err);
    }
  }

  private async query(sql: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
    try {
      return (await this.pool.query(sql, params)).rows as Record<string, unknown>[];
    } catch (err) {
      throw unavailable(err);
    }
  }
}

/**
 * The PostgreSQL schema's versions for the tables in `schema` (a quoted identifier), in order (see
 * migrate.ts); add a step at the end, never edit one.
 */
export function postgresMigrations(schema: string): Migration[] {
  return [
    {
      version: 1,
      name: 'windows, targets, control tables, anomalies, quarantine',
      async up(tx) {
        await tx.exec(`
          CREATE TABLE IF NOT EXISTS ${schema}.windows (
            target TEXT NOT NULL, granularity INTEGER NOT NULL, dim TEXT NOT NULL, key TEXT NOT NULL, start BIGINT NOT NULL,
            final BOOLEAN NOT NULL, count DOUBLE PRECISION NOT NULL, est_count DOUBLE PRECISION NOT NULL,
            bytes DOUBLE PRECISION NOT NULL, est_bytes DOUBLE PRECISION NOT NULL, rows DOUBLE PRECISION NOT NULL,
            errors DOUBLE PRECISION NOT NULL, est_errors DOUBLE PRECISION NOT NULL, sum DOUBLE PRECISION NOT NULL,
            min DOUBLE PRECISION, max DOUBLE PRECISION, peak DOUBLE PRECISION NOT NULL, rate DOUBLE PRECISION NOT NULL,
            last DOUBLE PRECISION, last_at BIGINT NOT NULL, sketch BYTEA NOT NULL,
            PRIMARY KEY (target, granularity, dim, key, start))`);
        await tx.exec(`CREATE INDEX IF NOT EXISTS windows_open ON ${schema}.windows (final) WHERE NOT final`);
        await tx.exec(`CREATE INDEX IF NOT EXISTS windows_age ON ${schema}.windows (granularity, start)`);
        await tx.exec(`
          CREATE TABLE IF NOT EXISTS ${schema}.targets (
            name TEXT PRIMARY KEY, kind TEXT NOT NULL, labels TEXT NOT NULL, sampling_rate DOUBLE PRECISION NOT NULL,
            scrape TEXT, source TEXT NOT NULL, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)`);
        for (const sql of controlSchema(`${schema}.`, 'BIGINT')) await tx.exec(sql);
        await tx.exec(quarantineSchema(`${schema}.`, 'BIGINT'));
        // Entries written in the same millisecond are listed in the order they were written (SQLite has rowid).
        await tx.exec(`ALTER TABLE ${schema}.audit ADD COLUMN IF NOT EXISTS seq BIGSERIAL`);
        await tx.exec(anomalyLastColumnSql(`${schema}.anomalies`, 'BIGINT', true));
      },
    },
    {
      version: 2,
      name: 'capacity runs',
      async up(tx) {
        for (const sql of capacityRunsSchema(`${schema}.`, 'BIGINT')) await tx.exec(sql);
      },
    },
    {
      version: 3,
      name: 'series dictionary; windows keyed by series id, without the (granularity, start) index',
      async up(tx) {
        await tx.exec(`CREATE TABLE ${schema}.series (id INTEGER GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, target TEXT NOT NULL, dim TEXT NOT NULL, key TEXT NOT NULL, UNIQUE (target, dim, key))`);
        await tx.exec(`INSERT INTO ${schema}.series (target, dim, key) SELECT DISTINCT target, dim, key FROM ${schema}.windows ORDER BY target, dim, key`);
        // 8-byte columns first, then the boolean and the byte string: no alignment padding inside a row.
        await tx.exec(`
          CREATE TABLE ${schema}.windows_v3 (
            series INTEGER NOT NULL, granularity INTEGER NOT NULL, start BIGINT NOT NULL,
            count DOUBLE PRECISION NOT NULL, est_count DOUBLE PRECISION NOT NULL, bytes DOUBLE PRECISION NOT NULL,
            est_bytes DOUBLE PRECISION NOT NULL, errors DOUBLE PRECISION NOT NULL, final BOOLEAN NOT NULL, packed BYTEA NOT NULL,
            CONSTRAINT windows_by_series PRIMARY KEY (series, granularity, start))`);
        // Packing is done here, so the rows are copied a page at a time in primary key order.
        const key = ['target', 'granularity', 'dim', 'key', 'start'];
        const page = 5000;
        let after: unknown[] | undefined;
        for (;;) {
          const rows = await tx.all(
            `SELECT * FROM ${schema}.windows ${after ? `WHERE (${key.join(', ')}) > ($1, $2, $3, $4, $5)` : ''} ORDER BY ${key.join(', ')} LIMIT ${page}`,
            after,
          );
          if (rows.length === 0) break;
          await tx.exec(upsertWindowsSql(`${schema}.windows_v3`, `${schema}.series`), columnArrays(rows.map(windowFromDb)));
          const last = rows[rows.length - 1];
          after = key.map((k) => last[k]);
        }
        await tx.exec(`DROP TABLE ${schema}.windows`);
        await tx.exec(`ALTER TABLE ${schema}.windows_v3 RENAME TO windows`);
        await tx.exec(`CREATE INDEX windows_open ON ${schema}.windows (final) WHERE NOT final`);
      },
    },
    {
      version: 4,
      name: 'ingest partition leases',
      up: (tx) => createPartitionTables(tx, schema),
    },
  ];
}

/** PostgreSQL's positional placeholder. */
const dollar = (i: number): string => `$${i}`;

/**
 * SHADOWPLANE_ERR_STORE_REJECTED for an error of the rows themselves (SQLSTATE class 22, data
 * exception, e.g. a NUL in text; class 23, integrity constraint), else as unavailable().
 */
function refusedOrUnavailable(err: unknown): ShadowplaneError {
  const sqlState = (err as { code?: unknown }).code;
  if (typeof sqlState === 'string' && /^2[23]/.test(sqlState)) return new ShadowplaneError('SHADOWPLANE_ERR_STORE_REJECTED', `PostgreSQL: ${(err as Error).message}`);
  return unavailable(err);
}

function unavailable(err: unknown): ShadowplaneError {
  if (err instanceof ShadowplaneError) return err;
  return new ShadowplaneError('SHADOWPLANE_ERR_STORE_UNAVAILABLE', `PostgreSQL: ${(err as Error).message}`);
}
