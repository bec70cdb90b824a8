/**
 * Benchmark scenarios for partition shadowing, run against a real StreamService with real worker
 * processes. Time is compressed: one 500 ms window stands for one trace minute, and the policy's
 * minutes are scaled the same way (5 min → 2.5 s, 30 min → 15 s). Each partition's base load is a
 * slice of the Alibaba 2018 CPU trace (1-minute points), normalised and shifted per partition;
 * hot-key ramps add a single key's traffic rising linearly, holding, then falling.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCsv } from '../../core/csv.js';
import { PartitionController } from './controller.js';
import { SegmentLog } from './segment-log.js';
import { StreamService, type StreamEvent } from './service.js';
import { mulberry32 } from '../../core/random.js';
import { PACKAGE_ROOT } from '../../core/version.js';
import { ShadowplaneError } from '../../core/errors.js';
import { realClock, sleep, type Clock } from '../../core/clock.js';
import { quantile } from '../../core/quantile.js';

/** The figures of one run; the CLI prints them as the last line. */
export interface ScenarioResult {
  scenario: string;
  policy: string;
  seed: number;
  ramps: number;
  readyBefore90: number;
  lost: number;
  duplicated: number;
  orderViolations: number;
  lagP99Ms: number;
  peakUtilisation: number;
  secondsAbove90: number;
  moves: number;
  /** Partitions moved off a dead worker to a live one (not counted in `moves`). */
  failovers: number;
  shadowsCreated: number;
  maxCyclesPerPartitionPer30Min: number;
  produced: number;
  durationS: number;
  /** Process CPU time of the controller's synchronous decision step (forecasts and policy), ms per window. */
  controllerCpuMsPerWindow: number;
  /** Where the time went on each ramp (ms from the ramp's start). */
  rampTimeline: RampTimeline[];
}

/**
 * One ramp's milestones, in ms from the ramp's start (null: never happened). `above75` and
 * `above90` are the ends of the first windows in which the load of the worker owning the
 * partition was measured above 75 % / 90 %; `created`, `caughtUp` and `switched` are the
 * service's events for the partition.
 */
export interface RampTimeline {
  partition: number;
  above75: number | null;
  created: number | null;
  caughtUp: number | null;
  above90: number | null;
  switched: number | null;
  ready: boolean;
}

/** The base-load trace shipped with Shadowplane: 4 days of Azure VM CPU (examples/data/README.md). */
export const DEFAULT_STREAM_TRACE = join(PACKAGE_ROOT, 'examples', 'data', 'azure_vm_2019_cpu_5min_excerpt.csv');

/** Run options. */
export interface ScenarioOptions {
  readonly scenario: 'ramps' | 'crash';
  readonly policy: 'shadow' | 'reactive';
  readonly seed?: number;
  /** Trace CSV for base load: this, else $SHADOWPLANE_TRACE, else the shipped DEFAULT_STREAM_TRACE. */
  readonly trace?: string;
  /** Progress lines go here. */
  readonly progress?: (line: string) => void;
  /** Time source of the service, its windows and the load generator; default the wall clock. */
  readonly clock?: Clock;
}

const WINDOW_MS = 500;
const SCALE = WINDOW_MS / 60_000;
const PARTITIONS = 4;
const WORKERS = 4;
const CAPACITY = 250;
const BASE_RATE = 40;
const RAMP_RATE = 175;
const TICK_MS = 50;

interface Ramp { partition: number; startS: number; riseS: number; holdS: number; fallS: number }

function rampRate(r: Ramp, s: number): number {
  const t = s - r.startS;
  if (t < 0) return 0;
  if (t < r.riseS) return RAMP_RATE * (t / r.riseS);
  if (t < r.riseS + r.holdS) return RAMP_RATE;
  if (t < r.riseS + r.holdS + r.fallS) return RAMP_RATE * (1 - (t - r.riseS - r.holdS) / r.fallS);
  return 0;
}

/** A ramp's milestones from the per-window worker loads, owners and window ends, and the service's events. */
function timeline(
  r: Ramp,
  t0: number,
  workerLoads: readonly number[][],
  owners: readonly number[][],
  windowEnds: readonly number[],
  events: readonly StreamEvent[],
): RampTimeline {
  const startAt = t0 + r.startS * 1000;
  const firstAbove = (limit: number): number | undefined => {
    for (let i = 0; i < workerLoads.length; i++) {
      const end = windowEnds[i];
      if (end >= startAt && workerLoads[i][owners[i][r.partition]] > limit) return end;
    }
    return undefined;
  };
  // Events of this ramp: from a second before it began (a shadow made just ahead of it counts).
  const first = (kind: StreamEvent['kind']) => events.find((e) => e.kind === kind && e.partition === r.partition && e.at >= startAt - 1000)?.at;
  const rel = (at: number | undefined) => (at === undefined ? null : Math.round(at - startAt));
  const above90 = firstAbove(0.9);
  const caughtUp = first('caught-up');
  return {
    partition: r.partition, above75: rel(firstAbove(0.75)), created: rel(first('shadow-created')), caughtUp: rel(caughtUp),
    above90: rel(above90), switched: rel(first('switched')), ready: caughtUp !== undefined && caughtUp <= (above90 ?? Infinity),
  };
}

/** Runs one scenario end to end and returns its figures. Fails when the trace cannot be read. */
export async function runScenario(options: ScenarioOptions): Promise<ScenarioResult> {
  const seed = options.seed ?? 1;
  const clock = options.clock ?? realClock;
  const rand = mulberry32(seed);
  const say = options.progress ?? (() => undefined);
  const tracePath = options.trace ?? process.env.SHADOWPLANE_TRACE ?? DEFAULT_STREAM_TRACE;
  const trace: number[] = [];
  try {
    for await (const { fields } of readCsv(tracePath)) {
      const v = Number(fields[1]);
      if (Number.isFinite(v)) trace.push(v);
    }
  } catch (err) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `cannot read trace ${tracePath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, [{ path: '--trace', message: 'must be a readable CSV timestamp,value' }]);
  }
  const durationS = options.scenario === 'ramps' ? 34 : 22;
  const windows = Math.ceil((durationS * 1000) / WINDOW_MS) + 2;
  if (trace.length < windows) throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `trace ${tracePath} has ${trace.length} numeric values; the scenario needs at least ${windows}`, [{ path: '--trace', message: `must hold at least ${windows} rows timestamp,value` }]);
  // Each partition gets its own slice of the trace (shifted by a seeded offset), normalised to BASE_RATE on average.
  const shapes = Array.from({ length: PARTITIONS }, () => {
    const start = Math.floor(rand() * (trace.length - windows));
    const slice = trace.slice(start, start + windows);
    const mean = slice.reduce((s, x) => s + x, 0) / slice.length || 1;
    return slice.map((x) => (BASE_RATE * x) / mean);
  });
  const jitter = () => (rand() - 0.5) * 2;
  const ramps: Ramp[] = options.scenario === 'ramps'
    ? [
      { partition: 0, startS: 3 + jitter(), riseS: 7, holdS: 5, fallS: 3 },
      { partition: 1, startS: 8 + jitter(), riseS: 6, holdS: 5, fallS: 3 },
      { partition: 2, startS: 17 + jitter(), riseS: 7, holdS: 4, fallS: 3 },
    ]
    : [{ partition: 0, startS: 3 + jitter(), riseS: 6, holdS: 6, fallS: 3 }];

  const dir = await mkdtemp(join(tmpdir(), 'sp-stream-bench-'));
  const log = new SegmentLog({ dir, fsync: 'interval', fsyncIntervalMs: 100 });
  const delivered = new Map<string, number>();
  const lastSeq = new Map<string, number>();
  const lags: number[] = [];
  let duplicated = 0;
  let orderViolations = 0;
  const svc = await StreamService.start({
    log, partitions: PARTITIONS, workers: WORKERS, capacity: CAPACITY, windowMs: WINDOW_MS, clock,
    onDeliver: (_p, recs) => {
      const now = clock.now();
      for (const r of recs) {
        const n = (delivered.get(r.id) ?? 0) + 1;
        delivered.set(r.id, n);
        if (n > 1) duplicated++;
        const seq = Number(r.value.slice(r.value.lastIndexOf(':') + 1));
        if (seq !== (lastSeq.get(r.key) ?? -1) + 1) orderViolations++;
        lastSeq.set(r.key, seq);
        lags.push(now - r.at);
      }
    },
  });
  // Two partitions per worker on workers 0 and 1; workers 2 and 3 start idle (the spare pool).
  for (let p = 0; p < PARTITIONS; p++) {
    const want = p % 2;
    if (svc.table.owners[p] !== want) await svc.forceMove(p, want);
    await svc.release(p, 'initial placement');
  }
  const events: StreamEvent[] = [];
  let t0 = clock.now();
  let killed = false;
  svc.onEvent((e) => {
    events.push(e);
    if (e.kind !== 'caught-up') say(`+${((e.at - t0) / 1000).toFixed(1)} s ${e.kind} partition ${e.partition ?? '-'} worker ${e.worker ?? '-'}${e.reason ? ` (${e.reason})` : ''}`);
    if (options.scenario === 'crash' && e.kind === 'switched' && e.worker !== undefined && !killed) {
      killed = true;
      const pid = svc.workerPid(e.worker);
      say(`killing worker ${e.worker} (pid ${pid}) during the switch-over of partition ${e.partition}`);
      clock.setTimer(20, () => { if (pid) process.kill(pid, 'SIGKILL'); });
    }
  });
  const workerLoads: number[][] = [];
  const owners: number[][] = [];
  const windowEnds: number[] = [];
  svc.onWindow((ws) => {
    const load = new Array<number>(WORKERS).fill(0);
    for (const w of ws) load[w.worker] += w.utilisation;
    workerLoads.push(load);
    owners.push(ws.map((w) => w.worker));
    windowEnds.push(ws[0]?.at ?? clock.now());
  });
  t0 = clock.now();
  const scaled = { minDwellMs: 300_000 * SCALE, cooldownMs: 1_800_000 * SCALE, reactiveWindowMs: 300_000 * SCALE };
  const controller = new PartitionController(svc, { policy: options.policy, windowMs: WINDOW_MS, config: scaled, horizon: 8 });

  // Key pools per partition: ordinary keys and one hot key per ramp.
  const pools = Array.from({ length: PARTITIONS }, () => [] as string[]);
  const hot = new Map<number, string>();
  for (let i = 0; pools.some((p) => p.length < 16) || hot.size < PARTITIONS; i++) {
    const key = `k${seed}-${i}`;
    const p = svc.ring.partitionOf(key);
    if (!hot.has(p)) hot.set(p, key);
    else if (pools[p].length < 16) pools[p].push(key);
  }
  const seq = new Map<string, number>();
  const carry = new Array<number>(PARTITIONS).fill(0);
  let produced = 0;
  const next = (key: string) => {
    const n = seq.get(key) ?? 0;
    seq.set(key, n + 1);
    return { key, value: `${key}:${n}`, id: `${key}:${n}` };
  };
  say(`${options.scenario}/${options.policy} seed ${seed}: ${PARTITIONS} partitions, ${WORKERS} worker processes at ${CAPACITY} records/s, ${durationS} s`);
  let lastTick = clock.now();
  while (clock.now() - t0 < durationS * 1000) {
    const s = (clock.now() - t0) / 1000;
    // Rates are honoured over the real elapsed time, so a slow tick does not thin the load.
    const dtS = (clock.now() - lastTick) / 1000;
    lastTick = clock.now();
    const wi = Math.min(windows - 1, Math.floor((s * 1000) / WINDOW_MS));
    const batch: { key: string; value: string; id: string }[] = [];
    for (let p = 0; p < PARTITIONS; p++) {
      const base = shapes[p][wi];
      const ramp = ramps.filter((r) => r.partition === p).reduce((sum, r) => sum + rampRate(r, s), 0);
      carry[p] += (base + ramp) * dtS;
      const baseShare = base / (base + ramp || 1);
      while (carry[p] >= 1) {
        carry[p] -= 1;
        batch.push(next(rand() < baseShare ? pools[p][Math.floor(rand() * pools[p].length)] : hot.get(p)!));
      }
    }
    await svc.append(batch);
    produced += batch.length;
    await sleep(clock, TICK_MS);
  }
  // Drain: everything produced must be delivered.
  const drainUntil = clock.now() + 15_000;
  while (delivered.size < produced && clock.now() < drainUntil) await sleep(clock, 50);
  controller.stop();
  await svc.stop();
  await log.close();
  await rm(dir, { recursive: true, force: true });

  // A ramp is ready when its partition's shadow caught up before the worker owning the partition
  // was first measured above 90 % (window end) after the ramp began.
  const rampTimeline = ramps.map((r) => timeline(r, t0, workerLoads, owners, windowEnds, events));
  for (const [i, t] of rampTimeline.entries()) say(`ramp ${i} (partition ${t.partition}): ${JSON.stringify(t)}`);
  const readyBefore90 = rampTimeline.filter((t) => t.ready).length;
  const creates = new Map<number, number[]>();
  for (const e of events) if (e.kind === 'shadow-created' && e.partition !== undefined) (creates.get(e.partition) ?? creates.set(e.partition, []).get(e.partition)!).push(e.at);
  const cycleWindow = 1_800_000 * SCALE;
  const maxCycles = Math.max(0, ...[...creates.values()].map((ts) => Math.max(...ts.map((t) => ts.filter((u) => u >= t && u < t + cycleWindow).length))));
  const lost = [...seq].reduce((n, [key, count]) => n + Array.from({ length: count }, (_, i) => `${key}:${i}`).filter((id) => !delivered.has(id)).length, 0);
  const peak = Math.max(0, ...workerLoads.flat());
  return {
    scenario: options.scenario, policy: options.policy, seed, ramps: ramps.length, readyBefore90, lost, duplicated, orderViolations,
    lagP99Ms: quantile(lags, 0.99, 0),
    peakUtilisation: Math.round(peak * 1000) / 1000,
    secondsAbove90: (workerLoads.filter((l) => l.some((x) => x > 0.9)).length * WINDOW_MS) / 1000,
    moves: events.filter((e) => e.kind === 'switched').length, failovers: events.filter((e) => e.kind === 'failed-over').length, shadowsCreated: creates.size && [...creates.values()].reduce((n, ts) => n + ts.length, 0),
    maxCyclesPerPartitionPer30Min: maxCycles, produced, durationS: Math.round((clock.now() - t0) / 100) / 10,
    controllerCpuMsPerWindow: Math.round(controller.cost.cpuMicros / Math.max(1, controller.cost.windows)) / 1000, rampTimeline,
  };
}
