/**
 * What both SQL backends share: the column list of the windows table and the mapping between
 * WindowRow / TargetRecord and database rows. NaN is stored as NULL (SQLite has no NaN).
 */
import type { AnomalyEvent, AnomalyKind, AnomalyRecord, Driver, TriageChange, TriageState } from '../model/detect.js';
import type { QuarantinedWindow } from './quarantine.js';
import type { AnomalyQuery, TargetRecord, TopRow } from './store.js';
import type { Dimension, WindowRow } from './window.js';
import { ByteReader, ByteWriter } from './bytes.js';

/** Window columns as they were up to schema version 2 (the series named by text in every row). */
export const LEGACY_WINDOW_COLUMNS = [
  'target', 'granularity', 'dim', 'key', 'start', 'final', 'count', 'est_count', 'bytes', 'est_bytes', 'rows',
  'errors', 'est_errors', 'sum', 'min', 'max', 'peak', 'rate', 'last', 'last_at', 'sketch',
] as const;

/**
 * The columns of a window after its key (series id, granularity, start) on SQLite, and of the
 * windows table before version 3 on both backends: what a write sets and an upsert replaces. Since
 * schema version 3 the series (target, dim, key) is a row of the `series` dictionary and a window
 * holds only its integer id; PostgreSQL packs some of these (postgres.ts).
 */
export const WINDOW_VALUE_COLUMNS = LEGACY_WINDOW_COLUMNS.slice(5);

/** `col = excluded.col` for every value column: the SQLite upsert's update list. */
export const WINDOW_UPSERT_SET = WINDOW_VALUE_COLUMNS.map((c) => `${c} = excluded.${c}`).join(', ');

const nanToNull = (v: number): number | null => (Number.isNaN(v) ? null : v);
const nullToNan = (v: unknown): number => (v === null || v === undefined ? Number.NaN : Number(v));

/** A WindowRow's values as positional parameters in WINDOW_VALUE_COLUMNS order. */
export function windowValues(row: WindowRow, bool: (b: boolean) => unknown): unknown[] {
  return [
    bool(row.final), row.count, row.estCount, row.bytes, row.estBytes, row.rows, row.errors, row.estErrors, row.sum,
    nanToNull(row.min), nanToNull(row.max), row.peak, row.rate, nanToNull(row.last), row.lastAt, row.sketch,
  ];
}

/** The dictionary key of a window's series. */
export function seriesKey(row: Pick<WindowRow, 'target' | 'dim' | 'key'>): string {
  return `${row.target}\u0000${row.dim}\u0000${row.key}`;
}

/**
 * The select list of a SQLite windows query joined to its series (`w`: windows, `s`: series), in
 * the column names windowFromDb reads.
 */
export const WINDOW_SELECT = `s.target, w.granularity, s.dim, s.key, w.start, ${WINDOW_VALUE_COLUMNS.map((c) => `w.${c}`).join(', ')}`;

/** What packWindowValues holds, as WindowRow fields. */
export type PackedValues = Pick<WindowRow, 'rows' | 'estErrors' | 'sum' | 'min' | 'max' | 'peak' | 'rate' | 'last' | 'lastAt' | 'sketch'>;

/** The packed form's first byte, for a later form to be told apart. */
const PACKED_V1 = 1;
/** A packed number: 2n (a varint) for a whole n >= 0, else one of these markers, then its float64 for F64. */
const PACKED_F64 = 1;
const PACKED_NAN = 3;

/**
 * The window values no query sums, in one byte string (PostgreSQL keeps them so: each float8
 * column costs 8 bytes whatever it holds, and most are small whole numbers or NaN): a version
 * byte, rows, estErrors, sum, min, max, peak, rate, last and lastAt as packed numbers, then the
 * sketch's bytes.
 */
export function packWindowValues(row: WindowRow): Buffer {
  const out = new ByteWriter();
  writeWindowValues(out, row);
  return out.toBuffer();
}

/** Appends packWindowValues' form of `row` to `out` (many rows' forms then share one buffer). */
export function writeWindowValues(out: ByteWriter, row: WindowRow): void {
  out.byte(PACKED_V1);
  for (const v of [row.rows, row.estErrors, row.sum, row.min, row.max, row.peak, row.rate, row.last, row.lastAt]) {
    if (Number.isNaN(v)) out.varint(PACKED_NAN);
    else if (Number.isSafeInteger(v) && v >= 0 && !Object.is(v, -0)) out.varint(2 * v);
    else {
      out.varint(PACKED_F64);
      out.f64(v);
    }
  }
  out.bytes(row.sketch);
}

/** Reads packWindowValues' form; throws RangeError on a truncated or unknown one. */
export function unpackWindowValues(buf: Buffer): PackedValues {
  if (buf[0] !== PACKED_V1) throw new RangeError(`packed window values of unknown version ${buf[0]}`);
  const read = new ByteReader(buf, 1);
  const next = (): number => {
    const v = read.varint();
    if (v === PACKED_NAN) return Number.NaN;
    return v === PACKED_F64 ? read.f64() : v / 2;
  };
  const [rows, estErrors, sum, min, max, peak, rate, last, lastAt] = Array.from({ length: 9 }, next);
  return { rows, estErrors, sum, min, max, peak, rate, last, lastAt, sketch: read.rest() };
}

/** A database row of the windows table as a WindowRow. */
export function windowFromDb(r: Record<string, unknown>): WindowRow {
  return {
    target: String(r.target),
    granularity: Number(r.granularity),
    dim: r.dim as Dimension,
    key: String(r.key),
    start: Number(r.start),
    final: Boolean(r.final),
    count: Number(r.count),
    estCount: Number(r.est_count),
    bytes: Number(r.bytes),
    estBytes: Number(r.est_bytes),
    rows: Number(r.rows),
    errors: Number(r.errors),
    estErrors: Number(r.est_errors),
    sum: Number(r.sum),
    min: nullToNan(r.min),
    max: nullToNan(r.max),
    peak: Number(r.peak),
    rate: Number(r.rate),
    last: nullToNan(r.last),
    lastAt: Number(r.last_at),
    sketch: r.sketch as Buffer,
  };
}

/** Target columns in table order. */
export const TARGET_COLUMNS = ['name', 'kind', 'labels', 'sampling_rate', 'scrape', 'source', 'created_at', 'updated_at'] as const;

/** A TargetRecord as positional parameters in TARGET_COLUMNS order. */
export function targetParams(t: TargetRecord): unknown[] {
  return [t.name, t.kind, JSON.stringify(t.labels), t.samplingRate, t.scrape ? JSON.stringify(t.scrape) : null, t.source, t.createdAt, t.updatedAt];
}

/** A database row of the targets table as a TargetRecord. */
export function targetFromDb(r: Record<string, unknown>): TargetRecord {
  const target: TargetRecord = {
    name: String(r.name),
    kind: r.kind as TargetRecord['kind'],
    labels: JSON.parse(String(r.labels)) as Record<string, string>,
    samplingRate: Number(r.sampling_rate),
    source: r.source as TargetRecord['source'],
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
  if (r.scrape) target.scrape = JSON.parse(String(r.scrape)) as TargetRecord['scrape'];
  return target;
}

/** The ORDER BY expression of a top-keys query. */
export function topOrder(by: 'count' | 'bytes'): string {
  return by === 'bytes' ? 'est_bytes DESC, key' : 'est_count DESC, key';
}

/** A database row of a top-keys query. */
export function topRowFromDb(r: Record<string, unknown>): TopRow {
  return {
    key: String(r.key), count: Number(r.count), estCount: Number(r.est_count),
    bytes: Number(r.bytes), estBytes: Number(r.est_bytes), errors: Number(r.errors),
  };
}

/**
 * The control loop's tables (decision records, conditions, per-target control state, audit trail),
 * in SQL both backends accept; records are JSON documents, indexed by what the API filters on.
 * `prefix` qualifies the table names (a PostgreSQL schema followed by a dot, or empty).
 */
export function controlSchema(prefix: string, time: 'INTEGER' | 'BIGINT'): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${prefix}decisions (id TEXT PRIMARY KEY, target TEXT NOT NULL, at ${time} NOT NULL, status TEXT NOT NULL, body TEXT NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS decisions_target_at ON ${prefix}decisions (target, at)`,
    `CREATE TABLE IF NOT EXISTS ${prefix}conditions (target TEXT NOT NULL, type TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (target, type))`,
    `CREATE TABLE IF NOT EXISTS ${prefix}control_state (target TEXT PRIMARY KEY, body TEXT NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS ${prefix}audit (id TEXT PRIMARY KEY, target TEXT NOT NULL, at ${time} NOT NULL, body TEXT NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS audit_target_at ON ${prefix}audit (target, at)`,
    `CREATE TABLE IF NOT EXISTS ${prefix}anomalies (id TEXT PRIMARY KEY, target TEXT NOT NULL, component TEXT NOT NULL, start ${time} NOT NULL,
      end_at ${time}, last_anomalous ${time}, severity DOUBLE PRECISION NOT NULL, drivers TEXT NOT NULL, kind TEXT NOT NULL, triage_state TEXT NOT NULL,
      triage_actor TEXT, triage_why TEXT, triage_at ${time}, updated_at ${time} NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS anomalies_target_start ON ${prefix}anomalies (target, start)`,
  ];
}

/** The capacity runs' table (schema version 2). */
export function capacityRunsSchema(prefix: string, time: 'INTEGER' | 'BIGINT'): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${prefix}capacity_runs (id TEXT PRIMARY KEY, target TEXT NOT NULL, at ${time} NOT NULL, status TEXT NOT NULL, body TEXT NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS capacity_runs_target_at ON ${prefix}capacity_runs (target, at)`,
  ];
}

/** Tables holding rows of one target (by a `target` column), deleted with it. */
export const TARGET_TABLES = ['decisions', 'conditions', 'control_state', 'anomalies', 'capacity_runs'] as const;

/** The upsert of one capacity run into `table`, placeholders by `ph(1..5)`: id, target, at, status, body (JSON). */
export function capacityRunUpsertSql(table: string, ph: (i: number) => string): string {
  return `INSERT INTO ${table} (id, target, at, status, body) VALUES (${[1, 2, 3, 4, 5].map(ph).join(', ')})
    ON CONFLICT (id) DO UPDATE SET status = excluded.status, body = excluded.body`;
}

/** The select of a target's capacity runs, newest first, placeholders by `ph(1..2)`: target, limit. */
export function capacityRunListSql(table: string, ph: (i: number) => string): string {
  return `SELECT body FROM ${table} WHERE target = ${ph(1)} ORDER BY at DESC, id DESC LIMIT ${ph(2)}`;
}

/** Adds `last_anomalous` to an anomalies table created before it existed (PostgreSQL; SQLite checks first). */
export function anomalyLastColumnSql(table: string, time: 'INTEGER' | 'BIGINT', ifNotExists: boolean): string {
  return `ALTER TABLE ${table} ADD COLUMN ${ifNotExists ? 'IF NOT EXISTS ' : ''}last_anomalous ${time}`;
}

/** Columns an anomaly upsert writes, in parameter order (see anomalyParams). */
const ANOMALY_COLUMNS = ['id', 'target', 'component', 'start', 'end_at', 'last_anomalous', 'severity', 'drivers', 'kind', 'triage_state', 'updated_at'] as const;

// An event closing moves an untriaged or acknowledged event to resolved; nothing else touches triage.
const CLOSES = `a.triage_state IN ('open', 'acknowledged') AND excluded.triage_state = 'resolved'`;

/**
 * The upsert of one anomaly event into `table` (qualified name), with positional placeholders
 * made by `ph(1..n)` (`?` for SQLite, `$n` for PostgreSQL). Keeps an operator's triage; see
 * ShadowStore.putAnomaly.
 */
export function anomalyUpsertSql(table: string, ph: (i: number) => string): string {
  return `INSERT INTO ${table} AS a (${ANOMALY_COLUMNS.join(', ')}) VALUES (${ANOMALY_COLUMNS.map((_, i) => ph(i + 1)).join(', ')})
    ON CONFLICT (id) DO UPDATE SET end_at = excluded.end_at, last_anomalous = excluded.last_anomalous, severity = excluded.severity, drivers = excluded.drivers, kind = excluded.kind,
      updated_at = excluded.updated_at,
      triage_state = CASE WHEN ${CLOSES} THEN excluded.triage_state ELSE a.triage_state END,
      triage_actor = CASE WHEN ${CLOSES} THEN 'system' ELSE a.triage_actor END,
      triage_why = CASE WHEN ${CLOSES} THEN 'the anomaly ended: the score stayed low for the quiet period' ELSE a.triage_why END,
      triage_at = CASE WHEN ${CLOSES} THEN excluded.updated_at ELSE a.triage_at END`;
}

/** The dominant kind of an event: `multivariate` when several signals drove it, else its driver's kind. */
export function anomalyKind(event: AnomalyEvent): AnomalyKind {
  return event.drivers.length > 1 ? 'multivariate' : (event.drivers[0]?.kind ?? 'none');
}

/** An anomaly event of `target` written at `at`, as parameters in anomalyUpsertSql order. */
export function anomalyParams(target: string, e: AnomalyEvent, at: number): unknown[] {
  return [e.id, target, e.component, e.start, e.end, e.lastAnomalous ?? null, e.severity, JSON.stringify(e.drivers), anomalyKind(e), e.triageState, at];
}

/** The select of a list query and its parameters, ordered newest first. */
export function anomalyListSql(table: string, q: AnomalyQuery, ph: (i: number) => string): { sql: string; params: unknown[] } {
  const params: unknown[] = [q.target, q.before ?? Number.MAX_SAFE_INTEGER];
  let where = `target = ${ph(1)} AND start < ${ph(2)}`;
  if (q.state) {
    params.push(q.state);
    where += ` AND triage_state = ${ph(params.length)}`;
  }
  if (q.ongoing) where += ' AND end_at IS NULL';
  params.push(q.limit);
  return { sql: `SELECT * FROM ${table} WHERE ${where} ORDER BY start DESC, id DESC LIMIT ${ph(params.length)}`, params };
}

/** Open anomaly events per target (`target`, n), of one target when `target` is given. */
export function openAnomalyCountSql(table: string, target: string | undefined, ph: (i: number) => string): { sql: string; params: unknown[] } {
  const where = target === undefined ? '' : ` AND target = ${ph(1)}`;
  return { sql: `SELECT target, COUNT(*) AS n FROM ${table} WHERE triage_state = 'open'${where} GROUP BY target`, params: target === undefined ? [] : [target] };
}

/** The triage compare-and-set and its parameters: set `to` with the change on `id` only while it is `from`. */
export function anomalyTriageSql(
  table: string,
  ph: (i: number) => string,
  id: string,
  from: TriageState,
  to: TriageState,
  c: TriageChange,
): { sql: string; params: unknown[] } {
  return {
    sql: `UPDATE ${table} SET triage_state = ${ph(1)}, triage_actor = ${ph(2)}, triage_why = ${ph(3)}, triage_at = ${ph(4)}, updated_at = ${ph(5)}
      WHERE id = ${ph(6)} AND triage_state = ${ph(7)}`,
    params: [to, c.actor, c.why, c.at, c.at, id, from],
  };
}

/** A database row of the anomalies table as an AnomalyRecord. */
export function anomalyFromDb(r: Record<string, unknown>): AnomalyRecord {
  return {
    id: String(r.id),
    target: String(r.target),
    component: String(r.component),
    start: Number(r.start),
    end: r.end_at === null || r.end_at === undefined ? null : Number(r.end_at),
    ...(r.last_anomalous === null || r.last_anomalous === undefined ? {} : { lastAnomalous: Number(r.last_anomalous) }),
    severity: Number(r.severity),
    drivers: JSON.parse(String(r.drivers)) as Driver[],
    kind: r.kind as AnomalyKind,
    triageState: r.triage_state as TriageState,
    triage:
      r.triage_actor === null || r.triage_actor === undefined
        ? null
        : { actor: String(r.triage_actor), why: String(r.triage_why), at: Number(r.triage_at) },
    updatedAt: Number(r.updated_at),
  };
}

/** The quarantine table (see quarantine.ts); `prefix` as in controlSchema. */
export function quarantineSchema(prefix: string, time: 'INTEGER' | 'BIGINT'): string {
  return `CREATE TABLE IF NOT EXISTS ${prefix}quarantine (id TEXT PRIMARY KEY, row TEXT NOT NULL, error TEXT NOT NULL, first_at ${time} NOT NULL, last_at ${time} NOT NULL, attempts INTEGER NOT NULL)`;
}

/** The upsert of one quarantined window into `table`, placeholders by `ph(1..6)`; parameters from quarantineParams. */
export function quarantineUpsertSql(table: string, ph: (i: number) => string): string {
  return `INSERT INTO ${table} AS q (id, row, error, first_at, last_at, attempts) VALUES (${[1, 2, 3, 4, 5, 6].map(ph).join(', ')})
    ON CONFLICT (id) DO UPDATE SET row = excluded.row, error = excluded.error, last_at = excluded.last_at, attempts = q.attempts + excluded.attempts`;
}

/** A quarantined window as parameters in quarantineUpsertSql order. */
export function quarantineParams(q: QuarantinedWindow): unknown[] {
  return [q.id, q.row, q.error, q.firstAt, q.lastAt, q.attempts];
}

/** A database row of the quarantine table. */
export function quarantineFromDb(r: Record<string, unknown>): QuarantinedWindow {
  return { id: String(r.id), row: String(r.row), error: String(r.error), firstAt: Number(r.first_at), lastAt: Number(r.last_at), attempts: Number(r.attempts) };
}

/** The SQLite form of controlSchema and the quarantine table, as one script. */
export const CONTROL_SCHEMA = [...controlSchema('', 'INTEGER'), quarantineSchema('', 'INTEGER')].join(';\n') + ';';
