/**
 * `shadowplane import`: loads a target's metric history into a running service, from a Prometheus
 * (`query_range`) or from a CSV file, one batch per day (fewer hours for steps under 8 s) through `POST /v1/targets/{t}/history`
 * (src/api/routes/history.ts), so a new target has weeks of past before its first tick. Windows
 * the store has already are kept, so running it twice writes nothing new. Progress goes to stderr,
 * the summary (JSON) to stdout.
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { readCsv } from '../core/csv.js';
import { ShadowplaneError } from '../core/errors.js';
import { durationMs } from '../core/schema.js';
import { matches } from '../core/validation.js';
import { SampleSchema, seriesKey } from '../ingest/schemas.js';
import { api } from './common.js';

const DAY = 86_400_000;
/** Prometheus answers at most this many points per series in one query_range. */
const MAX_QUERY_POINTS = 11_000;

/** One series of a batch as the history API takes it. */
interface BatchSeries {
  metric: string;
  labels?: Record<string, string>;
  points: [number, number][];
}

interface ImportOptions {
  target: string;
  fromPrometheus?: string;
  query?: string;
  csv?: string;
  range: string;
  step: string;
  metric?: string;
  labels?: string[];
  url: string;
  token?: string;
  why?: string;
}

/** What the import did, printed at the end. */
export interface ImportSummary {
  target: string;
  source: string;
  from: number;
  to: number;
  batches: number;
  points: number;
  windows: number;
  /** Series left as they were in some batch because the store had them already. */
  kept: number;
  /** Points at or after `importableBefore` (left to the live path). */
  tooRecent: number;
}

/** The series key a result's labels map to: `--metric` (else `__name__`) and the `--labels` kept. */
function seriesOf(o: ImportOptions, labels: Record<string, string>, where: string): { metric: string; labels?: Record<string, string> } {
  const metric = o.metric ?? labels.__name__;
  if (!metric) throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', `${where} has no metric name`, [{ path: '--metric', message: 'is required when the query result carries no __name__ (e.g. an expression)' }]);
  const kept = Object.fromEntries((o.labels ?? []).filter((l) => labels[l] !== undefined).map((l) => [l, labels[l]]));
  const s = Object.keys(kept).length > 0 ? { metric, labels: kept } : { metric };
  if (!matches(SampleSchema, { target: o.target, at: 0, value: 0, ...s })) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', `${where}: ${seriesKey(s.metric, s.labels)} is not a valid series`, [{ path: '--metric', message: 'must be a Prometheus metric name; at most 8 labels of at most 128 characters' }]);
  }
  return s;
}

/** Puts series that map to the same key together; two result series on one key are an error naming --labels. */
function collect(into: Map<string, BatchSeries>, s: { metric: string; labels?: Record<string, string> }, points: [number, number][], where: string): void {
  const key = seriesKey(s.metric, s.labels);
  if (into.has(key)) throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', `${where}: more than one series maps to ${key}`, [{ path: '--labels', message: 'must name the labels that tell the query\'s series apart' }]);
  into.set(key, { ...s, points });
}

/** One batch [from, to) of a Prometheus range query. */
async function prometheusBatch(o: ImportOptions, from: number, to: number): Promise<BatchSeries[]> {
  const stepMs = durationMs(o.step);
  const params = new URLSearchParams({ query: o.query!, start: String(from / 1000), end: String((to - stepMs) / 1000), step: String(stepMs / 1000) });
  const url = `${o.fromPrometheus!.replace(/\/$/, '')}/api/v1/query_range?${params}`;
  let body: { status: string; error?: string; data?: { resultType: string; result: { metric: Record<string, string>; values: [number, string][] }[] } };
  try {
    const res = await fetch(url);
    body = (await res.json()) as typeof body;
  } catch (err) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `cannot query Prometheus at ${o.fromPrometheus}: ${(err as Error).message}`);
  }
  if (body.status !== 'success' || body.data?.resultType !== 'matrix') {
    throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', `Prometheus refused the query: ${body.error ?? `result type ${body.data?.resultType}`}`, [{ path: '--query', message: body.error ?? 'must be a PromQL expression with a range (matrix) result' }]);
  }
  const out = new Map<string, BatchSeries>();
  for (const r of body.data.result) {
    const points = r.values.map(([t, v]) => [Math.round(t * 1000), Number(v)] as [number, number]).filter(([, v]) => Number.isFinite(v));
    collect(out, seriesOf(o, r.metric, `the query's result`), points, 'the query');
  }
  return [...out.values()];
}

/** Every point of a `timestamp,value` CSV (timestamp: ms since the epoch or ISO-8601; a header line is skipped). */
async function csvPoints(path: string): Promise<[number, number][]> {
  const points: [number, number][] = [];
  try {
    for await (const { line, fields } of readCsv(path)) {
      const [ts, value] = fields;
      const at = /^\d+(\.\d+)?$/.test(ts.trim()) ? Number(ts) : Date.parse(ts);
      const v = Number(value);
      if (Number.isNaN(at) || value === undefined || value.trim() === '' || !Number.isFinite(v)) {
        if (line === 1) continue; // a header
        throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `${path}:${line}: expected timestamp,value`, [{ path: `${path}:${line}`, message: 'must be `timestamp,value`: ms since the epoch or an ISO-8601 time, and a finite number' }]);
      }
      points.push([Math.floor(at), v]);
    }
  } catch (err) {
    if (err instanceof ShadowplaneError) throw err;
    throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return points.sort((a, b) => a[0] - b[0]);
}

/** Runs an import; `progress` receives one line per batch. */
export async function runImport(o: ImportOptions, progress: (line: string) => void): Promise<ImportSummary> {
  const limits = (await api(o, 'GET', `/v1/targets/${encodeURIComponent(o.target)}/history`)) as { alignMs: number; importableBefore: number };
  const align = limits.alignMs;
  // A day per batch, fewer hours when the step is so fine that a day is more points than one query may return.
  const span = o.csv ? DAY : Math.min(DAY, MAX_QUERY_POINTS * durationMs(o.step));
  const batchMs = Math.max(align, Math.floor(span / align) * align);
  const end = limits.importableBefore;
  let from: number;
  let source: string;
  let batchOf: (from: number, to: number) => Promise<BatchSeries[]>;
  let tooRecent = 0;
  if (o.csv) {
    if (!o.metric) throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', 'a CSV import needs a metric name', [{ path: '--metric', message: 'is required with --csv' }]);
    const all = await csvPoints(o.csv);
    if (all.length === 0) throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `${o.csv} holds no points`);
    const s = seriesOf(o, { __name__: o.metric }, o.csv);
    tooRecent = all.filter(([at]) => at >= end).length;
    from = all[0][0] - (all[0][0] % align);
    source = `csv ${o.csv}`;
    batchOf = async (a, b) => {
      const points = all.filter(([at]) => at >= a && at < b);
      return points.length > 0 ? [{ ...s, points }] : [];
    };
  } else {
    if (!o.fromPrometheus || !o.query) throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', 'nothing to import', [{ path: '--from-prometheus', message: 'give --from-prometheus URL with --query Q, or --csv FILE' }]);
    const start = end - durationMs(o.range);
    from = start - (start % align);
    source = `prometheus ${o.fromPrometheus} query_range ${o.query} step ${o.step}`;
    batchOf = (a, b) => prometheusBatch(o, a, b);
  }
  const summary: ImportSummary = { target: o.target, source, from, to: end, batches: 0, points: 0, windows: 0, kept: 0, tooRecent };
  const total = Math.max(0, Math.ceil((end - from) / batchMs));
  let n = 0;
  for (let a = from; a < end; a += batchMs) {
    n++;
    const b = Math.min(end, a + batchMs);
    const series = await batchOf(a, b);
    const span = `${new Date(a).toISOString()} .. ${new Date(b).toISOString()}`;
    if (series.length === 0) {
      progress(`[${n}/${total}] ${span}: no points`);
      continue;
    }
    const r = (await api(o, 'POST', `/v1/targets/${encodeURIComponent(o.target)}/history`, { source, from: a, to: b, series, why: o.why ?? `history import (${source})` })) as { points: number; windows: number; kept: string[] };
    summary.batches++;
    summary.points += r.points;
    summary.windows += r.windows;
    summary.kept += r.kept.length;
    progress(`[${n}/${total}] ${span}: ${r.points} points, ${r.windows} windows written${r.kept.length > 0 ? `, ${r.kept.length} series already stored, kept` : ''}`);
  }
  if (tooRecent > 0) progress(`${tooRecent} points at or after ${new Date(end).toISOString()} left out: those windows belong to the live rollup`);
  return summary;
}

function duration(value: string): string {
  try {
    durationMs(value);
  } catch {
    throw new InvalidArgumentError('must be a duration such as 30s, 5m, 1h or 30d');
  }
  return value;
}

/** Adds `import`. */
export function register(program: Command): void {
  program
    .command('import')
    .description('Load a target\'s metric history into a running service as closed windows (from a Prometheus or a CSV file). Running it twice writes nothing new.')
    .requiredOption('--target <name>', 'the target the history belongs to')
    .option('--from-prometheus <url>', 'a Prometheus to read with query_range, e.g. http://prometheus:9090')
    .option('--query <promql>', 'the PromQL expression (with --from-prometheus)')
    .option('--range <duration>', 'how far back to read from Prometheus', duration, '30d')
    .option('--step <duration>', 'query_range step', duration, '1m')
    .option('--csv <file>', 'a `timestamp,value` CSV file instead (timestamp: ms since the epoch or ISO-8601)')
    .option('--metric <name>', 'the metric key to store under (default: the result\'s __name__; required with --csv)')
    .option('--labels <names>', 'labels of the query result kept on the series, comma-separated', (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean))
    .option('--url <url>', 'the service\'s API', 'http://127.0.0.1:7070')
    .option('--token <token>', 'bearer token (default: SHADOWPLANE_API_TOKEN)')
    .option('--why <text>', 'recorded in the target\'s audit trail with each batch')
    .action(async (o: ImportOptions) => {
      const summary = await runImport(o, (line) => process.stderr.write(`${line}\n`));
      process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    });
}
