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
import { capacityRunListSql, capacityRunsSchema, capacityRunUpsertSql, TARGET_TABLES, anomalyFromDb, anomalyLastColumnSql, anomalyListSql, openAnomalyCountSql, anomalyParams, anomalyTriageSql, anomalyUpsertSql, controlSchema, quarantineFromDb, quarantineParams, quarantineSchema, quarantineUpsertSql, TARGET_COLUMNS, seriesKey, targetFromDb, targetParams, topOrder, topRowFromDb, unpackWindowValues, windowFromDb, writeWindowValues } from './sql.js';
import { migrate, migrationsTableSql, type Migration, type MigrationTx } from './migrate.js';
import { createPartitionTables } from './partitions.js';
import { PostgresLease, type Owner } from './owner.js';
import { ByteWriter } from './bytes.js';
import { binaryArray, type ArrayType } from './pg-arrays.js';
import type { QuarantinedWindow } from './quarantine.js';
import { PackedWindows, type WindowWrite } from './row-pack.js';
import type { WindowRow } from './window.js';

// BIGINT columns hold ms timestamps, well inside 2^53: read them as numbers.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

/** Rows per INSERT statement: each statement sends one array per column. */
const ROWS_PER_STATEMENT = 2000;
/**
 * Windows closed (their rows deleted from `open_windows`) after which that table is vacuumed, at
 * most once per VACUUM_EVERY_MS: see vacuumOpenWindows().
 */
const VACUUM_AFTER_CLOSED = 10_000;
const VACUUM_EVERY_MS = 60_000;
/** Series ids one transaction of deleteEmptySeries() looks at. */
const SERIES_PER_SWEEP = 20_000;

/**
 * The columns of a window after its key (series id, granularity, start): those top-keys queries sum,
 * then the rest packed in one byte string (packWindowValues). `windows` (final windows) also has
 * `final`, always true since schema version 5; `open_windows` has no such column.
 */
const VALUE_COLUMNS = ['count', 'est_count', 'bytes', 'est_bytes', 'errors', 'packed'] as const;
/** The upsert's update list. */
const UPSERT_SET = VALUE_COLUMNS.map((c) => `${c} = excluded.${c}`).join(', ');
/** The columns a windows query reads from allWindows() (`w`) beside its series (`s`); windowFromPg reads them. */
const SELECT = `s.target, w.granularity, s.dim, s.key, w.start, w.final, ${VALUE_COLUMNS.map((c) => `w.${c}`).join(', ')}`;
/** What a window write sends, as arrays: its series, its key, then VALUE_COLUMNS. */
const WRITE_COLUMNS = [
  ['target', 'text'], ['dim', 'text'], ['key', 'text'], ['granularity', 'int4'], ['start', 'int8'],
  ['count', 'float8'], ['est_count', 'float8'], ['bytes', 'float8'], ['est_bytes', 'float8'], ['errors', 'float8'], ['packed', 'bytea'],
] as const satisfies readonly (readonly [string, ArrayType])[];

/**
 * Final and open windows as one relation (`windows` and `open_windows`, the open ones with
 * `final` false), with the columns of `windows`. A window is in one of the two (writeWindowsWith).
 */
function allWindows(schema: string): string {
  const columns = ['series', 'granularity', 'start', ...VALUE_COLUMNS];
  return `(SELECT ${columns.join(', ')}, final FROM ${schema}.windows
    UNION ALL SELECT ${columns.join(', ')}, false FROM ${schema}.open_windows)`;
}

/** A row of SELECT as a WindowRow. */
function windowFromPg(r: Record<string, unknown>): WindowRow {
  return { ...windowFromDb(r), ...unpackWindowValues(r.packed as Buffer) };
}

/**
 * The rows of unnest() over the WRITE_COLUMNS arrays ($1..) and then `extra` ones, joined to their
 * series ids (`s`), as `i`.
 */
function unnestWindows(schema: string, extra: readonly (readonly [string, ArrayType])[] = []): string {
  const columns = [...WRITE_COLUMNS, ...extra];
  return `unnest(${columns.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ')}) AS i(${columns.map(([c]) => c).join(', ')})
    JOIN ${schema}.series s ON s.target = i.target AND s.dim = i.dim AND s.key = i.key`;
}

/**
 * The write of final windows (WRITE_COLUMNS arrays) into `windows`, removing their open rows: the
 * window moves from `open_windows` to `windows` when it closes.
 */
function writeFinalSql(schema: string): string {
  return `WITH f AS MATERIALIZED (SELECT s.id AS series, i.granularity, i.start, ${VALUE_COLUMNS.map((c) => `i.${c}`).join(', ')} FROM ${unnestWindows(schema)}),
    closed AS (DELETE FROM ${schema}.open_windows o USING f WHERE o.series = f.series AND o.granularity = f.granularity AND o.start = f.start)
    INSERT INTO ${schema}.windows (series, granularity, start, ${VALUE_COLUMNS.join(', ')}, final)
    SELECT series, granularity, start, ${VALUE_COLUMNS.join(', ')}, true FROM f
    ON CONFLICT (series, granularity, start) DO UPDATE SET ${UPSERT_SET}`;
}

/** The upsert of open windows (WRITE_COLUMNS arrays) into `open_windows`. */
function writeOpenSql(schema: string): string {
  return `INSERT INTO ${schema}.open_windows (series, granularity, start, ${VALUE_COLUMNS.join(', ')})
    SELECT s.id, i.granularity, i.start, ${VALUE_COLUMNS.map((c) => `i.${c}`).join(', ')} FROM ${unnestWindows(schema)}
    ON CONFLICT (series, granularity, start) DO UPDATE SET ${UPSERT_SET}`;
}

/** The insert of new series given as arrays of target, dim and key ($1..$3). */
function insertSeriesSql(series: string): string {
  return `INSERT INTO ${series} (target, dim, key) SELECT DISTINCT target, dim, key FROM unnest($1::text[], $2::text[], $3::text[]) AS i(target, dim, key)
    ON CONFLICT (target, dim, key) DO NOTHING`;
}

/**
 * Where the arrays of a part are built (rewound part after part), and the packed values of one
 * statement's rows (rewound statement after statement: they are copied into its `packed` array).
 */
interface PartSpace {
  readonly arrays: ByteWriter;
  readonly packed: ByteWriter;
}

/** Window rows as one binary array per WRITE_COLUMNS column (pg-arrays.ts), in `space` when given. */
function columnArrays(rows: readonly WindowRow[], space?: PartSpace): Buffer[] {
  const n = rows.length;
  const of = <T>(field: (r: WindowRow) => T): T[] => {
    const values = new Array<T>(n);
    for (let i = 0; i < n; i++) values[i] = field(rows[i]);
    return values;
  };
  const into = space?.arrays;
  return [
    binaryArray('text', of((r) => r.target), 'target', into),
    binaryArray('text', of((r) => r.dim), 'dim', into),
    binaryArray('text', of((r) => r.key), 'key', into),
    binaryArray('int4', of((r) => r.granularity), 'granularity', into),
    binaryArray('int8', of((r) => r.start), 'start', into),
    binaryArray('float8', of((r) => r.count), 'count', into),
    binaryArray('float8', of((r) => r.estCount), 'estCount', into),
    binaryArray('float8', of((r) => r.bytes), 'bytes', into),
    binaryArray('float8', of((r) => r.estBytes), 'estBytes', into),
    binaryArray('float8', of((r) => r.errors), 'errors', into),
    binaryArray('bytea', packedValues(rows, space?.packed ?? new ByteWriter()), 'packed', into),
  ];
}

/** The packed values of `rows` (writeWindowValues), written over `out`, as views of it rather than a buffer each. */
function packedValues(rows: readonly WindowRow[], out: ByteWriter): Buffer[] {
  out.rewind();
  const ends = rows.map((r) => {
    writeWindowValues(out, r);
    return out.size;
  });
  const all = out.view();
  return ends.map((end, i) => all.subarray(i === 0 ? 0 : ends[i - 1], end));
}

/** `rows` with only the last of each window (series, granularity, start), in their order. */
function lastOfEach(rows: readonly WindowRow[]): WindowRow[] {
  const byWindow = new Map<string, WindowRow>();
  for (const r of rows) {
    const id = `${seriesKey(r)}\u0000${r.granularity}\u0000${r.start}`;
    byWindow.delete(id);
    byWindow.set(id, r);
  }
  return byWindow.size === rows.length ? (rows as WindowRow[]) : [...byWindow.values()];
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
  private readonly openWindows: string;
  private readonly series: string;
  private readonly targets: string;
  private readonly schema: string;
  /** The advisory lock between window writes (shared) and deleteEmptySeries (exclusive). */
  private readonly seriesLockKey: string;
  /** Windows moved out of `open_windows` since its last vacuum, and when that was (performance.now()). */
  private closedSinceVacuum = 0;
  private vacuumedAt = Number.NEGATIVE_INFINITY;
  /** The vacuum of `open_windows` running, if one is. */
  private vacuuming: Promise<void> | undefined;
  /** The lease handed out by openLease(); window writes are fenced by its token. */
  private lease: PostgresLease | undefined;

  constructor(private readonly options: PostgresStoreOptions) {
    this.pool = new pg.Pool({ connectionString: options.url, max: 4, connectionTimeoutMillis: 5000 });
    // An idle client losing its server must not crash the service; the next query reports it.
    this.pool.on('error', () => undefined);
    const schema = `"${options.schema.replaceAll('"', '""')}"`;
    this.schema = schema;
    this.windows = `${schema}.windows`;
    this.openWindows = `${schema}.open_windows`;
    this.series = `${schema}.series`;
    this.targets = `${schema}.targets`;
    this.seriesLockKey = `shadowplane-series:${options.schema}`;
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
   * Writes in statements of ROWS_PER_STATEMENT rows, each column as one binary array parameter: new
   * series go into the dictionary first, then the final windows into `windows` (their open rows
   * deleted) and the open ones into `open_windows`, joined to their series ids. A row given twice
   * is written once, the last one winning (as a row-by-row upsert would), provided a window is not
   * written open after it was written final (the rollup engine never reopens a closed window).
   */
  async writeWindows(rows: WindowWrite): Promise<void> {
    if (rows.length === 0) return;
    const token = this.lease?.token;
    await this.writeWindowsWith(rows, async (tx) => {
      if (token !== undefined) await this.fence(tx, token);
    });
  }

  /**
   * Upserts `rows` as `writeWindows` does, in one transaction that runs `first` before them: a
   * fence of the writer's own (it throws to write nothing) and what must commit with the windows,
   * such as an ingest partition's high-water mark (src/store/partitions.ts). Runs `first` even
   * without rows. The arrays of one part (ROWS_PER_STATEMENT rows) are built while the server runs
   * the previous part's statements, and the event loop runs between parts.
   */
  async writeWindowsWith(rows: WindowWrite, first: (tx: MigrationTx) => Promise<void>): Promise<void> {
    // Packed windows are decoded a part at a time: a fleet's flush decoded whole would hold every row as an object at once.
    const part = rows instanceof PackedWindows ? (from: number, to: number) => rows.slice(from, to).rows() : (from: number, to: number) => rows.slice(from, to);
    const count = rows.length;
    const client = await this.connect();
    try {
      await client.query('BEGIN');
      await first({
        exec: async (sql, params) => void (await client.query(sql, params)),
        all: async (sql, params) => (await client.query(sql, params)).rows as Record<string, unknown>[],
      });
      // Series the dictionary holds are not deleted while windows are written (deleteEmptySeries).
      if (count > 0) await client.query('SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))', [this.seriesLockKey]);
      // A part's statements run one after another while the next part is built, so two parts'
      // arrays are alive at once: they alternate between two spaces.
      const spaces = [0, 1].map((): PartSpace => ({ arrays: new ByteWriter(), packed: new ByteWriter() }));
      let running: Promise<unknown> = Promise.resolve();
      let closed = 0;
      for (let i = 0; i < count; i += ROWS_PER_STATEMENT) {
        const rows = part(i, Math.min(i + ROWS_PER_STATEMENT, count));
        for (const r of rows) if (r.final) closed++;
        const space = spaces[(i / ROWS_PER_STATEMENT) % 2];
        space.arrays.rewind();
        const statements = this.partStatements(rows, space);
        await running;
        // The server may have run the last part's statements while this one was built: a turn of the
        // event loop lets the API and ingest in between parts all the same.
        await new Promise((resolve) => setImmediate(resolve));
        running = statements.reduce<Promise<unknown>>((previous, [sql, params]) => previous.then(() => client.query(sql, params)), Promise.resolve());
        // Awaited at the next part or below; a failure is handled there, not as an unhandled rejection.
        running.catch(() => undefined);
      }
      await running;
      await client.query('COMMIT');
      this.closedSinceVacuum += closed;
      this.vacuumOpenWindows();
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw refusedOrUnavailable(err);
    } finally {
      client.release();
    }
  }

  /**
   * Starts a VACUUM of `open_windows` (in the background, one at a time) once VACUUM_AFTER_CLOSED
   * windows have left it, at most once per VACUUM_EVERY_MS. A window that closes leaves a dead row
   * there, and only a vacuum lets new rows use the space again: without it (autovacuum off, or
   * behind) the table grows by the windows of every minute. Rewrites of open windows need no vacuum
   * (HOT updates, see migration 5). A failed vacuum is tried again once as many windows more have closed.
   */
  private vacuumOpenWindows(): void {
    if (this.vacuuming || this.closedSinceVacuum < VACUUM_AFTER_CLOSED || performance.now() - this.vacuumedAt < VACUUM_EVERY_MS) return;
    this.closedSinceVacuum = 0;
    this.vacuumedAt = performance.now();
    this.vacuuming = this.pool
      .query(`VACUUM ${this.openWindows}`)
      .then(() => undefined, () => undefined)
      .finally(() => (this.vacuuming = undefined));
  }

  /** The statements that write one part of a batch: its new series, its final windows, its open ones (arrays in `space`). */
  private partStatements(rows: readonly WindowRow[], space: PartSpace): [string, Buffer[]][] {
    const part = lastOfEach(rows);
    const final = part.filter((r) => r.final);
    const open = final.length === part.length ? [] : part.filter((r) => !r.final);
    const statements: [string, Buffer[]][] = [[insertSeriesSql(this.series), [
      binaryArray('text', part.map((r) => r.target), 'target', space.arrays),
      binaryArray('text', part.map((r) => r.dim), 'dim', space.arrays),
      binaryArray('text', part.map((r) => r.key), 'key', space.arrays),
    ]]];
    if (final.length > 0) statements.push([writeFinalSql(this.schema), columnArrays(final, space)]);
    if (open.length > 0) statements.push([writeOpenSql(this.schema), columnArrays(open, space)]);
    return statements;
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
    return (await this.query(`SELECT ${SELECT} FROM (SELECT *, false AS final FROM ${this.openWindows}) w JOIN ${this.series} s ON s.id = w.series`)).map(windowFromPg);
  }

  async queryWindows(q: WindowQuery): Promise<WindowRow[]> {
    return (
      await this.query(
        `SELECT ${SELECT} FROM ${this.series} s JOIN ${allWindows(this.schema)} w ON w.series = s.id
         WHERE s.target = $1 AND s.dim = $2 AND s.key = $3 AND w.granularity = $4 AND w.start >= $5 AND w.start < $6 ORDER BY w.start`,
        [q.target, q.dim, q.key, q.granularity, q.from, q.to],
        'shadowplane-windows',
      )
    ).map(windowFromPg);
  }

  async topKeys(q: TopQuery): Promise<TopRow[]> {
    const rows = await this.query(
      `SELECT s.key, SUM(w.count) AS count, SUM(w.est_count) AS est_count, SUM(w.bytes) AS bytes, SUM(w.est_bytes) AS est_bytes, SUM(w.errors) AS errors
       FROM ${this.series} s JOIN ${allWindows(this.schema)} w ON w.series = s.id
       WHERE s.target = $1 AND s.dim = $2 AND w.granularity = $3 AND w.start >= $4 AND w.start < $5
       GROUP BY s.key ORDER BY ${topOrder(q.by)} LIMIT $6`,
      [q.target, q.dim, q.granularity, q.from, q.to, q.limit],
      `shadowplane-top-${q.by}`,
    );
    return rows.map(topRowFromDb);
  }

  async deleteWindowsBefore(granularity: number, before: number): Promise<number> {
    const client = await this.connect();
    try {
      // Only final windows are in `windows`; series by series through the primary key.
      const res = await client.query(`DELETE FROM ${this.windows} WHERE series IN (SELECT id FROM ${this.series}) AND granularity = $1 AND start < $2`, [granularity, before]);
      return res.rowCount ?? 0;
    } catch (err) {
      throw unavailable(err);
    } finally {
      client.release();
    }
  }

  /**
   * Deletes the series no window refers to any more, SERIES_PER_SWEEP ids per transaction. Each
   * holds the series lock (writes hold it shared), so no write is between adding a series and
   * joining its windows to it while a sweep looks; a write waits for at most one sweep step.
   */
  async deleteEmptySeries(): Promise<number> {
    const [range] = await this.query(`SELECT MIN(id) AS lo, MAX(id) AS hi FROM ${this.series}`);
    if (range.lo === null) return 0;
    let deleted = 0;
    for (let lo = Number(range.lo); lo <= Number(range.hi); lo += SERIES_PER_SWEEP) {
      await this.transaction(this.seriesLockKey, async (client) => {
        // A probe of each table's primary key per series (its first column), whatever their size,
        // from the newest end: retention has just deleted the oldest windows, whose index entries
        // stay until a vacuum and would each be visited first.
        const probe = (table: string) => `(SELECT 1 FROM ${table} w WHERE w.series = s.id ORDER BY w.series DESC, w.granularity DESC, w.start DESC LIMIT 1) IS NULL`;
        const res = await client.query(
          `DELETE FROM ${this.series} s WHERE s.id >= $1 AND s.id < $2 AND ${probe(this.windows)} AND ${probe(this.openWindows)}`,
          [lo, lo + SERIES_PER_SWEEP],
        );
        deleted += res.rowCount ?? 0;
      });
    }
    return deleted;
  }

  async seriesCount(): Promise<number> {
    const [row] = await this.query(
      `SELECT COUNT(*) AS n FROM ${this.series} s WHERE EXISTS (SELECT 1 FROM ${this.windows} w WHERE w.series = s.id) OR EXISTS (SELECT 1 FROM ${this.openWindows} o WHERE o.series = s.id)`,
    );
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
      for (const windows of [this.windows, this.openWindows]) await client.query(`DELETE FROM ${windows} WHERE series IN (SELECT id FROM ${this.series} WHERE target = $1)`, [name]);
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

  async openAnomalyCounts(target?: string): Promise<Record<string, number>> {
    const { sql, params } = openAnomalyCountSql(`${this.schema}.anomalies`, target, dollar);
    return Object.fromEntries((await this.query(sql, params)).map((r) => [String(r.target), Number(r.n)]));
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
      `SELECT pg_total_relation_size('${this.windows}') + pg_total_relation_size('${this.openWindows}') + pg_total_relation_size('${this.series}') + pg_total_relation_size('${this.targets}') AS n`,
    );
    return Number(row.n);
  }

  async close(): Promise<void> {
    await this.vacuuming;
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

  /**
   * Runs one statement on a pooled connection. A `name` makes it a prepared statement of each
   * connection, parsed once and planned once its plan settles: a fleet's loops run the window
   * queries thousands of times a minute. One name, one text.
   */
  private async query(sql: string, params: unknown[] = [], name?: string): Promise<Record<string, unknown>[]> {
    try {
      return (await this.pool.query({ text: sql, values: params, name })).rows as Record<string, unknown>[];
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
          const copied = rows.map(windowFromDb);
          await tx.exec(
            `INSERT INTO ${schema}.windows_v3 (series, granularity, start, ${VALUE_COLUMNS.join(', ')}, final)
             SELECT s.id, i.granularity, i.start, ${VALUE_COLUMNS.map((c) => `i.${c}`).join(', ')}, i.final FROM ${unnestWindows(schema, [['final', 'bool']])}`,
            [...columnArrays(copied), binaryArray('bool', copied.map((r) => r.final), 'final')],
          );
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
    {
      version: 5,
      name: 'open windows in a table of their own',
      async up(tx) {
        // Every flush rewrites each open window: half of each page is kept free, so a rewrite can
        // go on the same page (a HOT update, no new index entry) and the page reclaims the old
        // version itself the next time it is written, without waiting for a vacuum.
        await tx.exec(`
          CREATE TABLE ${schema}.open_windows (
            series INTEGER NOT NULL, granularity INTEGER NOT NULL, start BIGINT NOT NULL,
            count DOUBLE PRECISION NOT NULL, est_count DOUBLE PRECISION NOT NULL, bytes DOUBLE PRECISION NOT NULL,
            est_bytes DOUBLE PRECISION NOT NULL, errors DOUBLE PRECISION NOT NULL, packed BYTEA NOT NULL,
            CONSTRAINT open_windows_by_series PRIMARY KEY (series, granularity, start)) WITH (fillfactor = 50)`);
        const columns = ['series', 'granularity', 'start', ...VALUE_COLUMNS].join(', ');
        await tx.exec(`INSERT INTO ${schema}.open_windows (${columns}) SELECT ${columns} FROM ${schema}.windows WHERE NOT final`);
        await tx.exec(`DELETE FROM ${schema}.windows WHERE NOT final`);
        await tx.exec(`DROP INDEX ${schema}.windows_open`);
      },
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
