/**
 * What both SQL backends share: the column list of the windows table and the mapping between
 * WindowRow / TargetRecord and database rows. NaN is stored as NULL (SQLite has no NaN).
 */
import type { TargetRecord } from './store.js';
import type { Dimension, WindowRow } from './window.js';

/** Window columns in table order; the first five form the primary key. */
export const WINDOW_COLUMNS = [
  'target', 'granularity', 'dim', 'key', 'start', 'final', 'count', 'est_count', 'bytes', 'est_bytes', 'rows',
  'errors', 'est_errors', 'sum', 'min', 'max', 'peak', 'rate', 'last', 'last_at', 'sketch',
] as const;

/** `col = excluded.col` for every non-key column: the upsert's update list. */
export const WINDOW_UPSERT_SET = WINDOW_COLUMNS.slice(5).map((c) => `${c} = excluded.${c}`).join(', ');

const nanToNull = (v: number): number | null => (Number.isNaN(v) ? null : v);
const nullToNan = (v: unknown): number => (v === null || v === undefined ? Number.NaN : Number(v));

/** A WindowRow as positional parameters in WINDOW_COLUMNS order. */
export function windowParams(row: WindowRow, bool: (b: boolean) => unknown): unknown[] {
  return [
    row.target, row.granularity, row.dim, row.key, row.start, bool(row.final), row.count, row.estCount, row.bytes,
    row.estBytes, row.rows, row.errors, row.estErrors, row.sum, nanToNull(row.min), nanToNull(row.max), row.peak,
    row.rate, nanToNull(row.last), row.lastAt, row.sketch,
  ];
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
  ];
}

/** The SQLite form of controlSchema, as one script. */
export const CONTROL_SCHEMA = controlSchema('', 'INTEGER').join(';\n') + ';';
