/**
 * Synthetic workload on a shadow database: the captured query mix (fingerprints and their
 * frequencies) replayed at a target rate, with each parameter synthesised from the type of the
 * column it is compared with (numbers and times within the column's range, random text, booleans
 * and uuids; never a value read from a row); a ramp over rates finds the knee where the latency
 * quantile of the SLO crosses it, and each step records the shadow's resource use
 * (pg_stat_database deltas, and the CPU time and private memory of the backends serving the
 * workload, read from /proc when the server is local).
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { realClock, sleep, type Clock } from '../../core/clock.js';
import { quantileSorted } from '../../core/quantile.js';
import type { Operation } from '../../model/event.js';
import type { ParamBinding, StatementMeta } from './metadata.js';

/** One fingerprint of the mix. */
export interface MixEntry {
  readonly fingerprint: string;
  readonly op: Operation;
  count: number;
  /** Parameter number → column, as the parser saw it. */
  readonly params: ReadonlyMap<number, ParamBinding>;
}

/** Fingerprints and how often each was seen. */
export class QueryMix {
  private readonly entries = new Map<string, MixEntry>();

  /** Counts one data statement (utility statements are ignored). */
  record(meta: StatementMeta): void {
    if (meta.op === undefined) return;
    const e = this.entries.get(meta.fingerprint);
    if (e) e.count++;
    else this.entries.set(meta.fingerprint, { fingerprint: meta.fingerprint, op: meta.op, count: 1, params: meta.params });
  }

  /** The entries, most frequent first. */
  list(): MixEntry[] {
    return [...this.entries.values()].sort((a, b) => b.count - a.count);
  }
}

/** Highest `$n` in a fingerprint (0 for none). */
export function paramCount(fingerprint: string): number {
  let max = 0;
  for (const m of fingerprint.matchAll(/\$(\d+)/g)) max = Math.max(max, Number(m[1]));
  return max;
}

/** Latency and throughput of one step of the ramp, plus the shadow's resource use during it. */
export interface StepResult {
  /** Offered rate, statements per second. */
  targetRate: number;
  /** Completed statements per second. */
  achievedRate: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  errors: number;
  /** Arrivals dropped because the backlog exceeded one second of work (overload). */
  dropped: number;
  /** CPU cores used by the workload's backends (null when /proc of the server is not readable). */
  backendCpuCores: number | null;
  /** Private memory (RssAnon) of the workload's backends at the end of the step, bytes (null as above). */
  backendMemoryBytes: number | null;
  /** Per-second deltas from pg_stat_database of the shadow's database. */
  stat: { xactCommit: number; tupReturned: number; tupFetched: number; blksHit: number; blksRead: number };
}

/** Settings of a WorkloadDriver. */
export interface WorkloadOptions {
  /** The database driven (a shadow, or a primary for comparison). */
  url: string;
  /** Client connections (default 8). */
  connections?: number;
  /** Time source of the arrival schedule and the latencies; default the wall clock. */
  clock?: Clock;
}

interface Ready {
  readonly name: string;
  readonly text: string;
  readonly weight: number;
  /** One value generator per parameter, in order. */
  readonly values: (() => string)[];
}

/**
 * Drives one database with a query mix. prepare() must resolve before step(); close() ends its
 * connections. Entries whose parameters cannot all be bound to a column with values are left out
 * and reported by coverage().
 */
export class WorkloadDriver {
  private readonly clients: pg.Client[] = [];
  private readonly pids: number[] = [];
  private ready: Ready[] = [];
  private cumulative: number[] = [];
  private coveredWeight = 0;
  private totalWeight = 0;

  constructor(private readonly options: WorkloadOptions) {}

  /**
   * Connects and reads the type (and, for numbers and times, the range) of every column a
   * parameter binds to. Rejects if it cannot connect.
   */
  async prepare(mix: readonly MixEntry[]): Promise<void> {
    for (let i = 0; i < (this.options.connections ?? 8); i++) {
      const c = new pg.Client({ connectionString: this.options.url });
      c.on('error', () => undefined);
      await c.connect();
      this.clients.push(c);
      this.pids.push(Number((await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid));
    }
    const cache = new Map<string, (() => string) | undefined>();
    const generatorOf = async (b: ParamBinding): Promise<(() => string) | undefined> => {
      const key = `${b.table}.${b.column}`;
      if (!cache.has(key)) cache.set(key, await synthesiser(this.clients[0], b));
      return cache.get(key);
    };
    this.totalWeight = mix.reduce((s, e) => s + e.count, 0);
    for (const [i, e] of mix.entries()) {
      const n = paramCount(e.fingerprint);
      const values: (() => string)[] = [];
      for (let p = 1; p <= n; p++) {
        const b = e.params.get(p);
        const g = b ? await generatorOf(b) : undefined;
        if (!g) break;
        values.push(g);
      }
      if (values.length < n) continue;
      this.ready.push({ name: `sp_w${i}`, text: e.fingerprint, weight: e.count, values });
      this.coveredWeight += e.count;
    }
    let acc = 0;
    this.cumulative = this.ready.map((r) => (acc += r.weight));
  }

  /** Share of the mix (by frequency) that can be replayed, and the fingerprints left out. */
  coverage(mix: readonly MixEntry[]): { share: number; left: string[] } {
    const names = new Set(this.ready.map((r) => r.text));
    return {
      share: this.totalWeight === 0 ? 0 : this.coveredWeight / this.totalWeight,
      left: mix.filter((e) => !names.has(e.fingerprint)).map((e) => e.fingerprint),
    };
  }

  /** Offers `rate` statements per second for `durationMs` (open loop) and measures the outcome. */
  async step(rate: number, durationMs: number): Promise<StepResult> {
    if (this.ready.length === 0) throw new Error('no replayable statement in the mix');
    const latencies: number[] = [];
    let errors = 0;
    let dropped = 0;
    const backlog: number[] = [];
    const idle = [...this.clients];
    const before = await this.snapshot();
    const clock = this.options.clock ?? realClock;
    const t0 = clock.monotonic();
    const total = Math.max(1, Math.round((rate * durationMs) / 1000));
    const pick = (): Ready => {
      const x = Math.random() * this.cumulative[this.cumulative.length - 1];
      return this.ready[this.cumulative.findIndex((c) => x < c)];
    };
    const run = async (client: pg.Client, scheduled: number): Promise<void> => {
      const q = pick();
      try {
        await client.query({ name: q.name, text: q.text, values: q.values.map((g) => g()) });
      } catch {
        errors++;
      }
      // Latency from the scheduled arrival, so time spent waiting for a free connection counts.
      latencies.push(clock.monotonic() - scheduled);
      const next = backlog.shift();
      if (next !== undefined) void run(client, next);
      else idle.push(client);
    };
    for (let i = 0; i < total; i++) {
      const scheduled = t0 + (i * 1000) / rate;
      const wait = scheduled - clock.monotonic();
      if (wait > 1) await sleep(clock, wait);
      const c = idle.pop();
      if (c) void run(c, scheduled);
      else if (backlog.length < rate) backlog.push(scheduled);
      else dropped++;
    }
    while (idle.length < this.clients.length) await sleep(clock, 5);
    const seconds = (clock.monotonic() - t0) / 1000;
    const after = await this.snapshot();
    const sorted = Float64Array.from(latencies).sort();
    const q = (p: number): number => sorted.length === 0 ? Infinity : quantileSorted(sorted, p);
    const per = (k: keyof Snapshot['stat']): number => (after.stat[k] - before.stat[k]) / seconds;
    return {
      targetRate: rate,
      achievedRate: latencies.length / seconds,
      p50Ms: q(0.5), p95Ms: q(0.95), p99Ms: q(0.99),
      errors, dropped,
      backendCpuCores: before.cpu === null || after.cpu === null ? null : (after.cpu - before.cpu) / seconds,
      backendMemoryBytes: await backendMemoryBytes(this.pids),
      stat: { xactCommit: per('xactCommit'), tupReturned: per('tupReturned'), tupFetched: per('tupFetched'), blksHit: per('blksHit'), blksRead: per('blksRead') },
    };
  }

  /** Ends the connections. */
  async close(): Promise<void> {
    await Promise.all(this.clients.splice(0).map((c) => c.end().catch(() => undefined)));
  }

  private async snapshot(): Promise<Snapshot> {
    const r = await this.clients[0].query(
      `SELECT xact_commit, tup_returned, tup_fetched, blks_hit, blks_read FROM pg_stat_database WHERE datname = current_database()`,
    );
    const row = r.rows[0];
    return {
      stat: {
        xactCommit: Number(row.xact_commit), tupReturned: Number(row.tup_returned), tupFetched: Number(row.tup_fetched),
        blksHit: Number(row.blks_hit), blksRead: Number(row.blks_read),
      },
      cpu: await backendCpuSeconds(this.pids),
    };
  }
}

interface Snapshot {
  stat: StepResult['stat'];
  cpu: number | null;
}

/** CPU seconds (user + system) used so far by the given local processes; null if any is unreadable. */
export async function backendCpuSeconds(pids: readonly number[]): Promise<number | null> {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      return null;
    }
  }
  // Linux reports in clock ticks, 100 per second on every mainstream configuration.
  return ticks / 100;
}

/** Private memory (RssAnon) of the given local processes, bytes; null if any is unreadable. */
export async function backendMemoryBytes(pids: readonly number[]): Promise<number | null> {
  let kb = 0;
  for (const pid of pids) {
    try {
      const m = /^RssAnon:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
      if (!m) return null;
      kb += Number(m[1]);
    } catch {
      return null;
    }
  }
  return kb * 1024;
}

const NUMERIC = new Set(['smallint', 'integer', 'bigint', 'numeric', 'real', 'double precision', 'oid']);
const INTEGER = new Set(['smallint', 'integer', 'bigint', 'oid']);
const TIME = new Set(['date', 'timestamp without time zone', 'timestamp with time zone']);
const TEXT = /^(text|character varying|character|name|citext)/;

/**
 * A generator of values for a parameter bound to `b`, from the column's type alone: numbers and
 * times uniform within the column's range (its min and max: a bound, not a row), text of the
 * column's declared or average width, booleans, uuids. Undefined for a column it cannot find or a
 * type it does not synthesise (the statement is then left out of the replay).
 */
async function synthesiser(client: pg.Client, b: ParamBinding): Promise<(() => string) | undefined> {
  const parts = b.table.split('.');
  const table = parts.map((p) => pg.escapeIdentifier(p)).join('.');
  const t = await client.query(
    `SELECT format_type(a.atttypid, NULL) AS type, CASE WHEN a.atttypmod > 4 THEN a.atttypmod - 4 END AS width
     FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attname = $2 AND NOT a.attisdropped`,
    [table, b.column],
  ).catch(() => ({ rows: [] as { type: string; width: number | null }[] }));
  const col = t.rows[0] as { type: string; width: number | null } | undefined;
  if (!col) return undefined;
  const c = pg.escapeIdentifier(b.column);
  if (NUMERIC.has(col.type) || TIME.has(col.type)) {
    const epoch = (x: string) => (TIME.has(col.type) ? `extract(epoch from ${x})` : x);
    const r = await client.query(`SELECT ${epoch(`min(${c})`)}::float8 AS lo, ${epoch(`max(${c})`)}::float8 AS hi FROM ${table}`);
    const now = Date.now() / 1000;
    const lo = r.rows[0].lo ?? (TIME.has(col.type) ? now - 365 * 86400 : 0);
    const hi = r.rows[0].hi ?? (TIME.has(col.type) ? now : 1_000_000);
    const draw = () => lo + Math.random() * (hi - lo);
    if (INTEGER.has(col.type)) return () => String(Math.floor(lo + Math.random() * (hi - lo + 1)));
    if (col.type === 'date') return () => new Date(draw() * 1000).toISOString().slice(0, 10);
    if (TIME.has(col.type)) return () => new Date(draw() * 1000).toISOString();
    return () => String(draw());
  }
  if (TEXT.test(col.type)) {
    const width = col.width ?? 12;
    const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
    return () => Array.from({ length: col.type === 'character' ? width : Math.min(width, 12) }, () => alphabet[Math.floor(Math.random() * alphabet.length)]).join('');
  }
  if (col.type === 'boolean') return () => (Math.random() < 0.5 ? 'true' : 'false');
  if (col.type === 'uuid') return () => randomUUID();
  return undefined;
}

/** The latency objective of a ramp: a quantile of statement latency and its limit. */
export interface LatencySlo {
  quantile: 'p50' | 'p95' | 'p99';
  ms: number;
}

/** Settings of a ramp. */
export interface RampOptions {
  slo: LatencySlo;
  /** First rate, statements per second. */
  startRate: number;
  /** Multiplier between steps (default 1.4). */
  factor?: number;
  /** Highest rate tried. */
  maxRate: number;
  /** Length of each step, ms (default 3000). */
  stepMs?: number;
  /** Called after each step. */
  onStep?: (step: StepResult, pass: boolean) => void;
  /** Stops the ramp before its next step (findKnee then rejects with the signal's reason). */
  signal?: AbortSignal;
}

/** The ramp's outcome: the knee (highest rate meeting the SLO) and every step as evidence. */
export interface KneeResult {
  /** Highest offered rate whose latency quantile met the SLO with ≥ 95 % of it achieved and ≤ 1 % errors; 0 when none did. */
  kneeRate: number;
  /** The step at the knee (undefined when none passed). */
  atKnee?: StepResult;
  /** Whether the ramp stopped at maxRate without crossing the SLO (the knee is then a lower bound). */
  bounded: boolean;
  steps: StepResult[];
}

/** Ramps the rate geometrically until the SLO is crossed (or maxRate), then returns the knee. */
export async function findKnee(driver: WorkloadDriver, options: RampOptions): Promise<KneeResult> {
  const steps: StepResult[] = [];
  let best: StepResult | undefined;
  let rate = options.startRate;
  let crossed = false;
  const key = `${options.slo.quantile}Ms` as const;
  while (rate <= options.maxRate) {
    options.signal?.throwIfAborted();
    const s = await driver.step(rate, options.stepMs ?? 3000);
    steps.push(s);
    const errorBudget = (0.01 * s.achievedRate * (options.stepMs ?? 3000)) / 1000;
    const pass = s[key] <= options.slo.ms && s.achievedRate >= 0.95 * rate && s.dropped === 0 && s.errors <= errorBudget;
    options.onStep?.(s, pass);
    if (!pass) { crossed = true; break; }
    best = s;
    rate = Math.round(rate * (options.factor ?? 1.4));
  }
  return { kneeRate: best?.targetRate ?? 0, atKnee: best, bounded: !crossed, steps };
}
