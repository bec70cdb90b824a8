/**
 * The replay world of docs/replay-model.md: a fleet of identical replicas with a cold start,
 * the metrics, the clairvoyant oracle and the Kubernetes-HPA reference. An independent
 * implementation of the same model scores a decisions file alike (test/sim, when one is given).
 */

/** A ready replica serves this many replica-equivalents per minute. */
export const LIMIT = 1.0;
/** Minutes of history before scoring starts when the trace spans at least two days. */
export const DAY = 1440;

/**
 * Replicas that are ready or booting. A replica launched at the end of minute t is ready from
 * minute t + 1 + delay; scale-down is immediate and cancels the newest booting replicas first.
 */
export class Fleet {
  private readyCount: number;
  /** [readyAtMinute, count], oldest first. */
  private readonly pending: [number, number][] = [];

  /** Starts with `initial` ready replicas (a non-negative integer). */
  constructor(initial: number, private readonly delay: number) {
    this.readyCount = initial;
  }

  /** Ready replicas. */
  get ready(): number {
    return this.readyCount;
  }

  /** Replicas that exist (ready + booting): the billed count and the HPA's `spec`. */
  get spec(): number {
    let n = this.readyCount;
    for (const p of this.pending) n += p[1];
    return n;
  }

  /** Booting replicas. */
  get booting(): number {
    return this.spec - this.readyCount;
  }

  /** Start of minute t: replicas whose boot has finished become ready. */
  activate(t: number): void {
    while (this.pending.length > 0 && this.pending[0][0] <= t) this.readyCount += this.pending.shift()![1];
  }

  /** End of minute t: sets the replica count to `n` (a non-negative integer). */
  setSpec(t: number, n: number): void {
    const cur = this.spec;
    if (n > cur) {
      this.pending.push([t + 1 + this.delay, n - cur]);
    } else if (n < cur) {
      let drop = cur - n;
      while (drop > 0 && this.pending.length > 0) {
        const last = this.pending[this.pending.length - 1];
        const k = Math.min(last[1], drop);
        last[1] -= k;
        drop -= k;
        if (last[1] === 0) this.pending.pop();
      }
      this.readyCount -= drop;
    }
  }
}

/** The metrics of docs/replay-model.md over the scoring window. */
export interface ReplayMetrics {
  /** % of scored minutes with demand above ready capacity. */
  readonly underprov_time_pct: number;
  /** Unserved demand as % of all demand. */
  readonly unserved_pct: number;
  /** Idle ready capacity as % of all demand. */
  readonly overprov_pct: number;
  /** Minutes in which the billed replica count changed. */
  readonly actions: number;
  /** Replica-minutes billed (ready + booting). */
  readonly cost: number;
  /** Scored minutes. */
  readonly minutes: number;
}

/** First scored minute: 1440 when the trace spans at least two days, else 0. */
export function scoreStart(length: number): number {
  return length >= 2 * DAY ? DAY : 0;
}

/**
 * Scores per-minute ready and billed counts against demand over minutes [start, end) (exactly the
 * referee's arithmetic, including its 1e-9 comparison slack; by default the whole scoring window).
 * Arrays must have equal lengths.
 */
export function scoreRun(
  demand: readonly number[], ready: readonly number[], billed: readonly number[], start = scoreStart(demand.length), end = demand.length,
): ReplayMetrics {
  let under = 0;
  let unserved = 0;
  let over = 0;
  let dsum = 0;
  let actions = 0;
  let cost = 0;
  for (let t = start; t < end; t++) {
    const d = demand[t];
    const c = ready[t] * LIMIT;
    dsum += d;
    if (d > c + 1e-9) {
      under++;
      unserved += d - c;
    } else {
      over += c - d;
    }
    if (t > start && billed[t] !== billed[t - 1]) actions++;
    cost += billed[t];
  }
  const n = end - start;
  return {
    underprov_time_pct: (100 * under) / n,
    unserved_pct: dsum > 0 ? (100 * unserved) / dsum : 0,
    overprov_pct: dsum > 0 ? (100 * over) / dsum : 0,
    actions,
    cost,
    minutes: n,
  };
}

/** Per-minute outcome of a run: ready and billed replicas, and the desired count set each minute. */
export interface RunTrace {
  readonly ready: number[];
  readonly billed: number[];
  readonly desired: number[];
}

/** Initial replica count of the world: max(1, ceil(D[0] / target)). */
export function initialReplicas(demand0: number, target: number): number {
  return Math.max(MIN_REPLICAS, Math.ceil(demand0 / target));
}

/**
 * Applies a desired count per minute to a fresh fleet (what the referee does with a decisions
 * file): `desired[t]` is set at the end of minute t, rounded and floored at 0.
 */
export function applyDecisions(demand: readonly number[], desired: readonly number[], delay: number, target = 0.7): RunTrace {
  const fleet = new Fleet(initialReplicas(demand[0], target), delay);
  const ready: number[] = [];
  const billed: number[] = [];
  for (let t = 0; t < demand.length; t++) {
    fleet.activate(t);
    ready.push(fleet.ready);
    billed.push(fleet.spec);
    fleet.setSpec(t, Math.max(0, Math.round(desired[t])));
  }
  return { ready, billed, desired: [...desired] };
}

/**
 * The oracle (physical limit): each replica layer k is needed where ceil(D) >= k; a layer's
 * replica stays idle through a gap of at most `delay` minutes, otherwise it is terminated and
 * relaunched `delay` minutes before the next need. Never under-provisioned, least replica-minutes.
 * `desired[t]` is the billed count of minute t + 1 (the count to set at the end of minute t).
 */
export function runOracle(demand: readonly number[], delay: number): RunTrace {
  const T = demand.length;
  const req = demand.map((d) => Math.max(MIN_REPLICAS, Math.ceil(d / LIMIT - 1e-9)));
  const K = Math.max(...req);
  const ready = new Array<number>(T).fill(0);
  const billed = new Array<number>(T).fill(0);
  for (let k = 1; k <= K; k++) {
    const merged: [number, number][] = [];
    let t = 0;
    while (t < T) {
      if (req[t] >= k) {
        const s = t;
        while (t < T && req[t] >= k) t++;
        const last = merged[merged.length - 1];
        if (last && s - last[1] <= delay) last[1] = t;
        else merged.push([s, t]);
      } else {
        t++;
      }
    }
    merged.forEach(([s, e], idx) => {
      let bootStart = s - delay;
      if (idx === 0 && req[0] >= k && s === 0) bootStart = 0;
      for (let u = Math.max(0, bootStart); u < e; u++) billed[u]++;
      for (let u = s; u < e; u++) ready[u]++;
    });
  }
  const desired = billed.map((_, t) => billed[Math.min(t + 1, T - 1)]);
  return { ready, billed, desired };
}

/** HPA defaults of docs/replay-model.md. */
export const MIN_REPLICAS = 1;
const HPA_TOLERANCE = 0.1;
const HPA_DOWN_WINDOW_MIN = 5;
const HPA_SYNCS_PER_TICK = 4;
const HPA_UP_PODS = 4;
const HPA_UP_PCT = 100;

/**
 * The reactive reference: the Kubernetes HPA replica calculation with its default behavior
 * (tolerance 0.1, scale-down stabilization 300 s, up rate max(+4, +100 %) per 15 s applied four
 * times per 1-minute tick, booting replicas counted at zero usage when r > 1, min 1 replica).
 * Stateful (its stabilization window); one instance per run, `decide` called once per minute in order.
 */
export class HpaReference {
  private readonly recs: [number, number][] = [];

  constructor(private readonly target: number) {}

  /** The replica count to set at the end of minute t, having observed demand `dObs`. */
  decide(t: number, dObs: number, ready: number, spec: number): number {
    const pending = spec - ready;
    let desired: number;
    if (ready <= 0) {
      desired = Math.max(MIN_REPLICAS, Math.ceil(dObs / this.target));
    } else {
      let r = dObs / (ready * this.target);
      let count = ready;
      if (pending > 0 && r > 1.0) {
        r = dObs / (spec * this.target);
        count = spec;
        if (r <= 1.0 + HPA_TOLERANCE) r = 1.0;
      }
      desired = Math.abs(1.0 - r) <= HPA_TOLERANCE ? spec : Math.ceil(r * count);
    }
    desired = Math.max(MIN_REPLICAS, desired);
    this.recs.push([t, desired]);
    while (this.recs.length > 0 && this.recs[0][0] < t - HPA_DOWN_WINDOW_MIN) this.recs.shift();
    // scale-up window 0 s: the up recommendation is the current one
    const upRec = desired;
    let downRec = desired;
    for (const [tt, rec] of this.recs) if (tt >= t - HPA_DOWN_WINDOW_MIN) downRec = Math.max(downRec, rec);
    let rec = spec;
    if (rec < upRec) rec = upRec;
    if (rec > downRec) rec = downRec;
    let lim = spec;
    for (let i = 0; i < HPA_SYNCS_PER_TICK; i++) lim = Math.max(lim + HPA_UP_PODS, lim * (1 + HPA_UP_PCT / 100));
    rec = Math.min(rec, Math.trunc(lim));
    return Math.max(MIN_REPLICAS, rec);
  }
}
