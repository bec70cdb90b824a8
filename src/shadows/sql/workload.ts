/**
 * Synthetic workload on a shadow database: the captured query mix (fingerprints and their
 * frequencies) replayed at a target rate, with each parameter drawn from the shadow's own values
 * of the column it is compared with; a ramp over rates finds the knee where p95 latency crosses
 * the SLO, and each step records the shadow's resource use (pg_stat_database deltas, and the CPU
 * time of the backends serving the workload, read from /proc when the server is local).
 */
import { readFile } from 'node:fs/promises';
import pg from 'pg';
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
  /** Per-second deltas from pg_stat_database of the shadow's database. */
  stat: { xactCommit: number; tupReturned: number; tupFetched: number; blksHit: number; blksRead: number };
}

/** Settings of a WorkloadDriver. */
export interface WorkloadOptions {
  /** The database driven (a shadow, or a primary for comparison). */
  url: string;
  /** Client connections (default 8). */
  connections?: number;
  /** Values sampled per column (default 500). */
  valuesPerColumn?: number;
}

interface Ready {
  readonly name: string;
  readonly text: string;
  readonly weight: number;
  readonly values: string[][];
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

  /** Connects and draws parameter values from the database's own data. Rejects if it cannot connect. */
  async prepare(mix: readonly MixEntry[]): Promise<void> {
    for (let i = 0; i < (this.options.connections ?? 8); i++) {
      const c = new pg.Client({ connectionString: this.options.url });
      c.on('error', () => undefined);
      await c.connect();
      this.clients.push(c);
      this.pids.push(Number((await c.query('SELECT pg_backend_pid() AS pid')).rows[0].pid));
    }
    const cache = new Map<string, string[]>();
    const valuesOf = async (b: ParamBinding): Promise<string[]> => {
      const key = `${b.table}.${b.column}`;
      if (!cache.has(key)) {
        const table = b.table.split('.').map((p) => pg.escapeIdentifier(p)).join('.');
        const col = pg.escapeIdentifier(b.column);
        const r = await this.clients[0].query(
          `SELECT ${col}::text AS v FROM ${table} WHERE ${col} IS NOT NULL ORDER BY random() LIMIT ${this.options.valuesPerColumn ?? 500}`,
        ).catch(() => ({ rows: [] as { v: string }[] }));
        cache.set(key, r.rows.map((row: { v: string }) => row.v));
      }
      return cache.get(key)!;
    };
    this.totalWeight = mix.reduce((s, e) => s + e.count, 0);
    for (const [i, e] of mix.entries()) {
      const n = paramCount(e.fingerprint);
      const values: string[][] = [];
      let ok = true;
      for (let p = 1; p <= n && ok; p++) {
        const b = e.params.get(p);
        const v = b ? await valuesOf(b) : [];
        if (v.length === 0) ok = false;
        values.push(v);
      }
      if (!ok) continue;
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
    const t0 = performance.now();
    const total = Math.max(1, Math.round((rate * durationMs) / 1000));
    const pick = (): Ready => {
      const x = Math.random() * this.cumulative[this.cumulative.length - 1];
      return this.ready[this.cumulative.findIndex((c) => x < c)];
    };
    const run = async (client: pg.Client, scheduled: number): Promise<void> => {
      const q = pick();
      try {
        await client.query({ name: q.name, text: q.text, values: q.values.map((v) => v[Math.floor(Math.random() * v.length)]) });
      } catch {
        errors++;
      }
      // Latency from the scheduled arrival, so time spent waiting for a free connection counts.
      latencies.push(performance.now() - scheduled);
      const next = backlog.shift();
      if (next !== undefined) void run(client, next);
      else idle.push(client);
    };
    for (let i = 0; i < total; i++) {
      const scheduled = t0 + (i * 1000) / rate;
      const wait = scheduled - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      const c = idle.pop();
      if (c) void run(c, scheduled);
      else if (backlog.length < rate) backlog.push(scheduled);
      else dropped++;
    }
    while (idle.length < this.clients.length) await new Promise((r) => setTimeout(r, 5));
    const seconds = (performance.now() - t0) / 1000;
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

/** Settings of a ramp. */
export interface RampOptions {
  /** p95 latency objective, ms. */
  sloP95Ms: number;
  /** First rate, statements per second. */
  startRate: number;
  /** Multiplier between steps (default 1.4). */
  factor?: number;
  /** Highest rate tried. */
  maxRate: number;
  /** Length of each step, ms (default 3000). */
  stepMs?: number;
}

/** The ramp's outcome: the knee (highest rate meeting the SLO) and every step as evidence. */
export interface KneeResult {
  /** Highest offered rate whose p95 met the SLO with ≥ 95 % of it achieved and ≤ 1 % errors; 0 when none did. */
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
  while (rate <= options.maxRate) {
    const s = await driver.step(rate, options.stepMs ?? 3000);
    steps.push(s);
    const pass = s.p95Ms <= options.sloP95Ms && s.achievedRate >= 0.95 * rate && s.dropped === 0 && s.errors <= 0.01 * s.achievedRate * (options.stepMs ?? 3000) / 1000;
    if (!pass) { crossed = true; break; }
    best = s;
    rate = Math.round(rate * (options.factor ?? 1.4));
  }
  return { kneeRate: best?.targetRate ?? 0, atKnee: best, bounded: !crossed, steps };
}
