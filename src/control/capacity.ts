/**
 * Capacity runs: a target's capacity per unit measured on its shadow PostgreSQL instance with the
 * target's captured query mix (the route keys of its request windows in the Shadow Store, which
 * pg-proxy and pg-tap fill with statement fingerprints), recorded as CapacityRun documents, and
 * handed to the target's loop in place of the `capacityPerUnit` setting. Runs start on demand (API,
 * CLI, dashboard), on a schedule, and when the forecast error or the query mix drifts past its
 * limit. One run per target at a time.
 */
import { randomUUID } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { ShadowplaneError, type FieldProblem } from '../core/errors.js';
import { Duration, DURATION_PATTERN, durationMs } from '../core/schema.js';
import type { CapacityRun, CapacityRunTrigger, UnitCapacity } from '../model/capacity.js';
import type { DecisionRecord } from '../model/decision.js';
import { capacityFigures } from '../shadows/sql/capacity.js';
import { eventsPerExecution, measureOnShadow, mixEntries, type WeightedFingerprint } from '../shadows/sql/measure.js';
import { OTHER_KEY } from '../store/window.js';
import type { LoopDeps } from './loop.js';
import type { ControlSettings } from './settings.js';

const PG_URL = '^postgres(ql)?://';

/** Capacity-run settings of one target (`targets[].capacity`). */
export const CapacitySettingsSchema = Type.Object(
  {
    source: Type.String({ pattern: PG_URL, description: 'The target\'s PostgreSQL, as a connection URL: read only (`pg_dump --schema-only` and `COPY ... TO STDOUT` of a row sample).', errorMessage: 'must be a postgres:// connection URL' }),
    shadow: Type.String({ pattern: PG_URL, description: 'The shadow database, as a connection URL. **Dropped and created again on every run** (the user needs CREATEDB on its server); never the source database.', errorMessage: 'must be a postgres:// connection URL' }),
    sloP99Ms: Type.Number({ exclusiveMinimum: 0, default: 50, description: 'Latency objective: p99 statement latency in ms. The knee is the highest rate that meets it.' }),
    fraction: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.1, description: 'Share of each table\'s rows copied into the shadow (TABLESAMPLE BERNOULLI).' }),
    scale: Type.Number({ exclusiveMinimum: 0, default: 1, description: 'Capacity of one production unit over the shadow\'s: 1 when the shadow runs on the same instance class, 2 when a unit has twice its resources.' }),
    connections: Type.Integer({ minimum: 1, maximum: 256, default: 8, description: 'Client connections the replay uses (as the application\'s pool would).' }),
    ramp: Type.Object(
      {
        startRate: Type.Number({ exclusiveMinimum: 0, default: 50, description: 'First rate of the ramp, statements per second.' }),
        factor: Type.Number({ exclusiveMinimum: 1, maximum: 4, default: 1.4, description: 'Multiplier between steps: the resolution of the knee.' }),
        maxRate: Type.Number({ exclusiveMinimum: 0, default: 20000, description: 'Highest rate tried, statements per second; the ramp also goes to 1.5 × the forecast peak when that is higher.' }),
        step: Duration('Length of each step of the ramp.', '3s'),
      },
      { additionalProperties: false, default: {}, description: 'The rising rates the mix is replayed at.' },
    ),
    mixWindow: Duration('Period of captured traffic whose fingerprints and weights make the mix.', '1h'),
    schedule: Type.Optional(Type.String({ pattern: DURATION_PATTERN, description: 'Run again once the last run is this old, e.g. `1d` (absent: no schedule).', errorMessage: 'must be a duration such as 12h or 1d' })),
    driftLimit: Type.Number({ exclusiveMinimum: 0, default: 0.3, description: 'Run again when the forecast error of the last hour (sum of |forecast − demand| over sum of demand, one step ahead) exceeds this.' }),
    mixDriftLimit: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.3, description: 'Run again when the query mix of the last `mixWindow` differs from the last run\'s by more than this (total variation distance of the fingerprint weights, 0..1).' }),
    minInterval: Duration('Fewest time between two runs started by drift.', '1h'),
  },
  { additionalProperties: false, description: 'Capacity runs on a shadow PostgreSQL instance (docs/capacity.md): the measured capacity per unit replaces `control.capacityPerUnit`.' },
);

/** Capacity-run settings with defaults filled in. */
export type CapacitySettings = Static<typeof CapacitySettingsSchema>;

/** Rules across keys of valid settings: the shadow must not be the source database. */
export function capacityProblems(c: CapacitySettings, at: string): FieldProblem[] {
  const place = (url: string) => {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}/${decodeURIComponent(u.pathname.slice(1))}`;
  };
  try {
    if (place(c.source) === place(c.shadow)) return [{ path: `${at}/shadow`, message: 'must name another database than source: the shadow is dropped on every run' }];
    if (!new URL(c.shadow).pathname.slice(1)) return [{ path: `${at}/shadow`, message: 'must name a database' }];
  } catch {
    return [{ path: `${at}/shadow`, message: 'must be a valid connection URL' }];
  }
  return [];
}

/** Decisions read for the forecast error. */
const DRIFT_DECISIONS = 60;
/** Fewest forecast/demand pairs before the forecast error is judged. */
const DRIFT_MIN_PAIRS = 10;
/** How often the schedule and the drift limits are checked. */
const CHECK_MS = 60_000;
/** Fingerprints of the mix read from the store. */
const MIX_KEYS = 100;

/** What CapacityRuns needs from the service: what a loop needs (clock, store, granularities, flush, log), and these. */
export interface CapacityDeps extends Pick<LoopDeps, 'clock' | 'store' | 'granularities' | 'flush' | 'log'> {
  /** The capacity settings of a target (undefined: none configured). Throws SHADOWPLANE_ERR_TARGET_NOT_FOUND for an unknown target. */
  readonly settingsOf: (target: string) => CapacitySettings | undefined;
  /** The last decision of the target's loop (its forecast and units), if any. */
  readonly lastDecision: (target: string) => DecisionRecord | undefined;
  /** Targets with capacity settings. */
  readonly configured: () => string[];
}

/** Starts, records and lists capacity runs; tells each loop the capacity in force. */
export class CapacityRuns {
  /** The latest succeeded run with a knee, per target: what the loop uses. */
  private readonly inForce = new Map<string, CapacityRun>();
  private readonly running = new Map<string, Promise<CapacityRun>>();
  private cancelCheck: (() => void) | undefined;
  private stopped = true;
  /** Aborted by stop(): runs under way end failed at their next step. A new one at startSchedule(). */
  private abort = new AbortController();

  constructor(private readonly deps: CapacityDeps) {}

  /** Reads the run in force of every configured target from the store; marks runs a stop interrupted as failed. */
  async init(): Promise<void> {
    for (const target of this.deps.configured()) {
      for (const run of await this.deps.store.listCapacityRuns(target, 20)) {
        if (run.status === 'running') {
          Object.assign(run, { status: 'failed', error: 'the service stopped during the run', endedAt: this.deps.clock.now() });
          await this.deps.store.putCapacityRun(run);
        }
        if (usable(run) && !this.inForce.has(target)) this.inForce.set(target, run);
      }
    }
  }

  /**
   * The capacity a loop decides with: the run in force's (with the utilisation limits it tunes,
   * never above the settings'), else the `capacityPerUnit` setting.
   */
  unitCapacity(target: string, s: ControlSettings): UnitCapacity {
    const run = this.inForce.get(target);
    // A run measures requests per second; a loop whose demand is a metric keeps its setting.
    if (!run || s.metric) return { capacityPerUnit: s.capacityPerUnit, source: 'config' };
    const f = run.figures!;
    const reactive = Math.max(0.5, Math.min(s.reactiveAboveUse, f.sloUtilisation));
    return {
      capacityPerUnit: f.capacityPerUnit,
      source: `capacity-run:${run.id}`,
      tuned: {
        reactiveAboveUse: reactive, proactiveBelowUse: Math.min(s.proactiveBelowUse, reactive), targetUtilisation: Math.min(s.targetUtilisation, reactive),
      },
    };
  }

  /**
   * Starts a run of `target` and returns its record (status `running`); the run goes on in the
   * background. Throws SHADOWPLANE_ERR_TARGET_NOT_FOUND, SHADOWPLANE_ERR_CAPACITY_NOT_CONFIGURED
   * (no `capacity` settings) or SHADOWPLANE_ERR_CAPACITY_RUN_BUSY (one is running).
   */
  async start(target: string, trigger: CapacityRunTrigger, actor: string): Promise<CapacityRun> {
    const settings = this.deps.settingsOf(target);
    if (!settings) throw new ShadowplaneError('SHADOWPLANE_ERR_CAPACITY_NOT_CONFIGURED', `target "${target}" has no capacity settings: set targets[].capacity (source and shadow connection URLs) in the config`);
    if (this.abort.signal.aborted) throw new ShadowplaneError('SHADOWPLANE_ERR_STANDBY', 'this instance has stopped its loops (it is stopping, or lost the store\'s lease): no capacity run starts');
    if (this.running.has(target)) throw new ShadowplaneError('SHADOWPLANE_ERR_CAPACITY_RUN_BUSY', `a capacity run of target "${target}" is running; wait for it to end`);
    const run: CapacityRun = {
      id: randomUUID(), target, at: this.deps.clock.now(), trigger, actor, status: 'running', phase: 'starting', progress: [],
      mix: [], shadowRows: [], steps: [], figures: null, error: null, endedAt: null,
    };
    await this.deps.store.putCapacityRun(run);
    const done = this.execute(run, settings).finally(() => this.running.delete(target));
    this.running.set(target, done);
    return run;
  }

  /** Resolves with the run once it has ended (immediately for an ended one). */
  async finished(target: string, id: string): Promise<CapacityRun> {
    await this.running.get(target);
    return this.get(target, id);
  }

  /** Whether the target has capacity settings; SHADOWPLANE_ERR_TARGET_NOT_FOUND for an unknown target. */
  configured(target: string): boolean {
    return this.deps.settingsOf(target) !== undefined;
  }

  /** Runs of a target, newest first. */
  async list(target: string, limit: number): Promise<CapacityRun[]> {
    this.deps.settingsOf(target);
    return this.deps.store.listCapacityRuns(target, limit);
  }

  /** One run of a target; SHADOWPLANE_ERR_NOT_FOUND when it has no such run. */
  async get(target: string, id: string): Promise<CapacityRun> {
    this.deps.settingsOf(target);
    const run = await this.deps.store.getCapacityRun(id);
    if (!run || run.target !== target) throw new ShadowplaneError('SHADOWPLANE_ERR_NOT_FOUND', `target "${target}" has no capacity run ${id}`);
    return run;
  }

  /** Checks the schedule and the drift limits of every configured target once a minute. */
  startSchedule(): void {
    this.stopped = false;
    if (this.abort.signal.aborted) this.abort = new AbortController();
    const tick = () => {
      void this.check().catch((err: unknown) => this.deps.log.error({ err: (err as Error).message }, 'capacity-run check failed')).finally(() => {
        if (!this.stopped) this.cancelCheck = this.deps.clock.setTimer(CHECK_MS, tick);
      });
    };
    this.cancelCheck = this.deps.clock.setTimer(CHECK_MS, tick);
  }

  /** Stops the checks, aborts the runs under way (each ends failed at its next step) and waits for them. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.cancelCheck?.();
    this.abort.abort(new Error('the service stopped during the run'));
    await Promise.all(this.running.values());
  }

  /** Starts the runs the schedule or a drift asks for. */
  async check(): Promise<void> {
    const now = this.deps.clock.now();
    for (const target of this.deps.configured()) {
      if (this.running.has(target)) continue;
      const s = this.deps.settingsOf(target)!;
      const [last] = await this.deps.store.listCapacityRuns(target, 1);
      const age = last ? now - last.at : Infinity;
      let trigger: CapacityRunTrigger | undefined;
      if (s.schedule && age >= durationMs(s.schedule)) trigger = 'schedule';
      else if (last && age >= durationMs(s.minInterval)) {
        const error = await this.forecastError(target);
        if (error !== undefined && error > s.driftLimit) trigger = 'forecast-drift';
        else if (last.mix.length > 0) {
          const mix = await this.capturedMix(target, s);
          if (mix.length > 0 && mixDistance(last.mix, mix) > s.mixDriftLimit) trigger = 'mix-drift';
        }
      }
      if (trigger) {
        this.deps.log.info({ target, trigger }, 'starting a capacity run');
        await this.start(target, trigger, 'system');
      }
    }
  }

  /** The one-step-ahead forecast error of the loop's recent decisions (sum |f − a| / sum a); undefined with too few. */
  async forecastError(target: string): Promise<number | undefined> {
    const own = (await this.deps.store.listDecisions({ target, limit: DRIFT_DECISIONS })).filter((d) => !d.response && !d.component).reverse();
    let err = 0, sum = 0, pairs = 0;
    for (let i = 1; i < own.length; i++) {
      const f = own[i - 1].forecast?.mean[0];
      if (f === undefined || own[i].at - own[i - 1].at > 2 * own[i].inputs.stepSeconds * 1000) continue;
      err += Math.abs(f - own[i].inputs.demand);
      sum += own[i].inputs.demand;
      pairs++;
    }
    return pairs >= DRIFT_MIN_PAIRS && sum > 0 ? err / sum : undefined;
  }

  /** The captured mix of the last `mixWindow`: fingerprints and their weight in statements (events over events per statement). */
  async capturedMix(target: string, s: CapacitySettings): Promise<WeightedFingerprint[]> {
    const to = this.deps.clock.now();
    await this.deps.flush(to);
    const rows = await this.deps.store.topKeys({ target, granularity: this.deps.granularities[0], dim: 'route', from: to - durationMs(s.mixWindow), to, by: 'count', limit: MIX_KEYS });
    const mix: WeightedFingerprint[] = [];
    for (const r of rows) {
      const events = r.key === OTHER_KEY ? 0 : await eventsPerExecution(r.key);
      if (events > 0 && r.estCount > 0) mix.push({ fingerprint: r.key, weight: r.estCount / events });
    }
    return mix.sort((a, b) => b.weight - a.weight);
  }

  private async execute(run: CapacityRun, s: CapacitySettings): Promise<CapacityRun> {
    // Progress writes go one after the other, so a late one never overwrites the final record.
    let writes = Promise.resolve();
    const progress = (line: string) => {
      run.phase = line;
      run.progress.push(line);
      const snapshot = structuredClone(run);
      writes = writes.then(() => this.deps.store.putCapacityRun(snapshot)).catch(() => undefined);
    };
    try {
      progress(`reading the captured query mix of the last ${s.mixWindow}`);
      run.mix = await this.capturedMix(run.target, s);
      if (run.mix.length === 0) throw new Error(`no SQL statement was captured for target "${run.target}" in the last ${s.mixWindow}: send its traffic through pg-proxy or pg-tap with --target ${run.target}`);
      const statements = run.mix.reduce((n, m) => n + m.weight, 0);
      let events = 0;
      for (const m of run.mix) events += m.weight * (await eventsPerExecution(m.fingerprint));
      const eventsPerStatement = events / statements;
      const forecastPeak = peakOf(this.deps.lastDecision(run.target));
      const peakOnShadow = forecastPeak === null ? 0 : forecastPeak / eventsPerStatement / s.scale;
      const measured = await measureOnShadow({
        sourceUrl: s.source, shadowUrl: s.shadow, fraction: s.fraction, slo: { quantile: 'p99', ms: s.sloP99Ms }, connections: s.connections,
        startRate: s.ramp.startRate, factor: s.ramp.factor, maxRate: Math.max(s.ramp.maxRate, 1.5 * peakOnShadow), stepMs: durationMs(s.ramp.step),
        signal: this.abort.signal,
      }, await mixEntries(run.mix), progress);
      run.shadowRows = measured.shadow.tables;
      run.steps = measured.knee.steps.map((x, i) => ({
        rate: x.targetRate, achieved: x.achievedRate, p50Ms: x.p50Ms, p95Ms: x.p95Ms, p99Ms: x.p99Ms,
        errors: x.errors, dropped: x.dropped, pass: measured.passed[i],
      }));
      run.figures = capacityFigures({ knee: measured.knee, coverage: measured.coverage.share, scaleFactor: s.scale, eventsPerStatement, forecastPeak });
      run.status = 'succeeded';
      const f = run.figures;
      run.phase = `knee ${f.kneeRate}/s at p99 ≤ ${s.sloP99Ms} ms; capacity per unit ${f.capacityPerUnit.toFixed(1)} requests/s; SLO broke at ${(f.sloUtilisation * 100).toFixed(0)} % utilisation; confidence ${f.confidence.level}`;
      run.progress.push(run.phase);
      if (usable(run)) this.inForce.set(run.target, run);
    } catch (err) {
      run.status = 'failed';
      run.error = (err as Error).message;
      run.phase = `failed: ${run.error}`;
      run.progress.push(run.phase);
      this.deps.log.warn({ target: run.target, run: run.id, err: run.error }, 'capacity run failed');
    }
    run.endedAt = this.deps.clock.now();
    await writes;
    await this.deps.store.putCapacityRun(run).catch((err: unknown) => this.deps.log.error({ target: run.target, run: run.id, err: (err as Error).message }, 'recording the end of a capacity run failed'));
    return run;
  }
}

/** Whether a run can set a loop's capacity: it succeeded and some step met the SLO. */
function usable(run: CapacityRun): boolean {
  return run.status === 'succeeded' && run.figures !== null && run.figures.kneeRate > 0 && run.figures.capacityPerUnit > 0;
}

/** The highest demand a decision's forecast expects over its horizon (its widest interval's upper bound), or null. */
function peakOf(d: DecisionRecord | undefined): number | null {
  const f = d?.forecast;
  if (!f || f.mean.length === 0) return null;
  const widest = [...f.intervals].sort((a, b) => b.level - a.level)[0];
  return Math.max(...(widest?.hi ?? f.mean));
}

/** Total variation distance between two mixes' weight distributions (0: the same shares, 1: disjoint). */
export function mixDistance(a: readonly WeightedFingerprint[], b: readonly WeightedFingerprint[]): number {
  const share = (m: readonly WeightedFingerprint[]) => {
    const total = m.reduce((n, x) => n + x.weight, 0);
    return new Map(m.map((x) => [x.fingerprint, total > 0 ? x.weight / total : 0]));
  };
  const pa = share(a), pb = share(b);
  let d = 0;
  for (const k of new Set([...pa.keys(), ...pb.keys()])) d += Math.abs((pa.get(k) ?? 0) - (pb.get(k) ?? 0));
  return d / 2;
}
