/**
 * One capacity measurement on a shadow PostgreSQL database: the shadow is dropped and created
 * again from the source (schema and a row sample, schema.ts), the query mix is replayed on it with
 * synthesised parameters at rising rates (workload.ts), and the ramp's steps come back with the
 * knee. Progress goes to a callback, one line per phase and per step.
 */
import pg from 'pg';
import { extractMetadata, initParser } from './metadata.js';
import { createShadow, type ShadowCreation } from './schema.js';
import { findKnee, WorkloadDriver, type KneeResult, type LatencySlo, type MixEntry } from './workload.js';

/** A fingerprint of the captured mix and its weight in statements. */
export interface WeightedFingerprint {
  readonly fingerprint: string;
  readonly weight: number;
}

/** Settings of one measurement. */
export interface MeasureOptions {
  /** The production database the shadow copies (read only: pg_dump and COPY ... TO STDOUT). */
  sourceUrl: string;
  /** The shadow database: dropped and created again (its server must let the user create databases). */
  shadowUrl: string;
  /** Share of each table's rows copied, (0, 1]. */
  fraction: number;
  slo: LatencySlo;
  connections: number;
  startRate: number;
  factor: number;
  maxRate: number;
  stepMs: number;
  /** Aborts the measurement between phases and ramp steps. */
  signal?: AbortSignal;
}

/** What a measurement found. */
export interface Measurement {
  shadow: ShadowCreation;
  knee: KneeResult;
  /** Share of the mix (by weight) replayed, and the fingerprints left out. */
  coverage: { share: number; left: string[] };
  /** Whether each step met the SLO, in order. */
  passed: boolean[];
}

/**
 * The mix as the workload driver takes it: each fingerprint parsed for its operation and the
 * columns its parameters bind to. Fingerprints that do not parse as one data statement (an HTTP
 * route, a utility statement) are left out.
 */
export async function mixEntries(mix: readonly WeightedFingerprint[]): Promise<MixEntry[]> {
  await initParser();
  const out: MixEntry[] = [];
  for (const m of mix) {
    let metas;
    try {
      metas = extractMetadata(m.fingerprint);
    } catch {
      continue;
    }
    if (metas.length !== 1 || metas[0].op === undefined) continue;
    out.push({ fingerprint: m.fingerprint, op: metas[0].op, count: m.weight, params: metas[0].params });
  }
  return out;
}

/** Request events one execution of a fingerprint gives: one per table it touches (at least one); 0 when it does not parse. */
export async function eventsPerExecution(fingerprint: string): Promise<number> {
  await initParser();
  try {
    const metas = extractMetadata(fingerprint).filter((m) => m.op !== undefined);
    return metas.reduce((n, m) => n + Math.max(1, m.tables.length), 0);
  } catch {
    return 0;
  }
}

/** Drops and creates the database a URL names, connected to the same server's `postgres` database. */
export async function recreateDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  const maintenance = new URL(url);
  maintenance.pathname = '/postgres';
  const c = new pg.Client({ connectionString: maintenance.toString() });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  } finally {
    await c.end();
  }
}

/** Runs one measurement; rejects with the failing step's error (a tool's stderr, a connection refused). */
export async function measureOnShadow(o: MeasureOptions, mix: readonly MixEntry[], progress: (line: string) => void): Promise<Measurement> {
  progress('refreshing the shadow database: drop and create');
  await recreateDatabase(o.shadowUrl);
  o.signal?.throwIfAborted();
  progress(`copying the schema and ${(o.fraction * 100).toFixed(1)} % of the rows from the source`);
  const shadow = await createShadow(o.sourceUrl, o.shadowUrl, o.fraction);
  progress(`shadow ready: ${shadow.tables.map((t) => `${t.table} ${t.rows} rows`).join(', ') || 'no tables'}`);
  const driver = new WorkloadDriver({ url: o.shadowUrl, connections: o.connections });
  try {
    await driver.prepare(mix);
    const coverage = driver.coverage(mix);
    progress(`replaying ${mix.length - coverage.left.length} of ${mix.length} fingerprints (${(coverage.share * 100).toFixed(1)} % of the mix by weight)`);
    if (coverage.share === 0) throw new Error('no fingerprint of the captured mix can be replayed: none parses as a data statement whose parameters bind to columns of a known type');
    o.signal?.throwIfAborted();
    const passed: boolean[] = [];
    const knee = await findKnee(driver, {
      slo: o.slo, startRate: o.startRate, factor: o.factor, maxRate: o.maxRate, stepMs: o.stepMs, signal: o.signal,
      onStep: (s, pass) => {
        passed.push(pass);
        progress(`step ${s.targetRate}/s: achieved ${s.achievedRate.toFixed(0)}/s, ${o.slo.quantile} ${s[`${o.slo.quantile}Ms`].toFixed(1)} ms, errors ${s.errors}, dropped ${s.dropped}: ${pass ? 'meets' : 'breaks'} the SLO`);
      },
    });
    return { shadow, knee, coverage, passed };
  } finally {
    await driver.close();
  }
}
