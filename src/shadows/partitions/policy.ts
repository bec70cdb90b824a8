/**
 * Partition-shadowing policies (pure: no I/O, time passed in). Utilisation is load over a
 * worker's capacity; a worker's load is the sum of its partitions'. Two shadowing policies and the
 * failover placement:
 *
 * - `decideShadow` (proactive): from per-partition forecasts, when a worker's predicted
 *   peak crosses `shadowAt` (75 %) its hottest movable partition gets a shadow on the worker with
 *   the most predicted headroom whose own predicted peak stays at or below `shadowAt` (preferring
 *   one that would stay at or below `switchAt` with the partition); when the predicted
 *   peak crosses `switchAt` (90 %) routing switches to a caught-up shadow whose worker would carry
 *   the partition within `switchAt` or at least below this worker's peak — at once when the
 *   crossing is within `imminentSteps`, else at a low-activity moment (current rate at or below the
 *   recent mean); a standby is released once the worker's predicted peak is below `releaseBelow`
 *   (60 %) and it has lived `minDwellMs` (a former primary) or `cooldownMs` (a shadow never
 *   switched to); a shadow's target worker counts the partition's predicted load as taken when
 *   placing others; a partition released
 *   within `cooldownMs` gets no new shadow unless its worker is predicted above `switchAt`.
 * - `placeFailover`: where a partition goes when its worker dies (see the function).
 * - `decideReactive` (the baseline used today): move the hottest partition of a worker whose
 *   measured mean utilisation over `reactiveWindowMs` exceeds `reactiveAt` (80 %); the copy is
 *   made then, and the switch follows as soon as it has caught up.
 */

/** Thresholds and timings; every field has a default (DEFAULT_SHADOW_POLICY). */
export interface ShadowPolicyConfig {
  readonly shadowAt: number;
  readonly switchAt: number;
  readonly releaseBelow: number;
  /** Forecast steps within which a predicted crossing of switchAt means "switch now". */
  readonly imminentSteps: number;
  readonly minDwellMs: number;
  readonly cooldownMs: number;
  readonly reactiveAt: number;
  readonly reactiveWindowMs: number;
}

/** Shadow at 75 %, switch at 90 %, release the standby below 60 %, with a 2-step imminence, 5-minute dwell and 30-minute cooldown. */
export const DEFAULT_SHADOW_POLICY: ShadowPolicyConfig = {
  shadowAt: 0.75, switchAt: 0.9, releaseBelow: 0.6, imminentSteps: 2, minDwellMs: 300_000, cooldownMs: 1_800_000, reactiveAt: 0.8, reactiveWindowMs: 300_000,
};

/**
 * Problems of a policy configuration, each naming its field: thresholds are utilisations in
 * (0, 1] with releaseBelow < shadowAt <= switchAt, times are >= 0. Empty when it is valid.
 */
export function shadowPolicyProblems(c: ShadowPolicyConfig): { field: keyof ShadowPolicyConfig; message: string }[] {
  const problems: { field: keyof ShadowPolicyConfig; message: string }[] = [];
  for (const f of ['shadowAt', 'switchAt', 'releaseBelow', 'reactiveAt'] as const) if (!(c[f] > 0 && c[f] <= 1)) problems.push({ field: f, message: 'must be a utilisation in (0, 1]' });
  for (const f of ['minDwellMs', 'cooldownMs', 'reactiveWindowMs'] as const) if (!(c[f] >= 0)) problems.push({ field: f, message: 'must be >= 0' });
  if (!(Number.isInteger(c.imminentSteps) && c.imminentSteps >= 1)) problems.push({ field: 'imminentSteps', message: 'must be an integer >= 1' });
  if (problems.length === 0 && !(c.releaseBelow < c.shadowAt)) problems.push({ field: 'releaseBelow', message: `must be below shadowAt (${c.shadowAt})` });
  if (problems.length === 0 && !(c.shadowAt <= c.switchAt)) problems.push({ field: 'shadowAt', message: `must be <= switchAt (${c.switchAt})` });
  return problems;
}

/** What the policy sees of one partition. */
export interface PartitionInput {
  readonly partition: number;
  readonly worker: number;
  /** Measured utilisation of the last window. */
  readonly utilisation: number;
  /** Mean measured utilisation over recent windows (the activity baseline). */
  readonly recentMean: number;
  /** Measured utilisation of each window inside the reactive window, oldest first. */
  readonly measured: readonly number[];
  /** Predicted utilisation for the next steps (upper interval bound is a fair choice). */
  readonly forecast: readonly number[];
  readonly standby?: { readonly worker: number; readonly role: 'shadow' | 'former'; readonly since: number; readonly caughtUp: boolean };
  readonly pinned: boolean;
  readonly forbidden: readonly number[];
  /** When its last standby was released, if ever. */
  readonly lastReleaseAt?: number;
}

/** One recommendation, with the evidence it rests on. */
export type PartitionAction =
  | { readonly kind: 'create'; readonly partition: number; readonly worker: number; readonly reason: string; readonly evidence: Record<string, number> }
  | { readonly kind: 'switch'; readonly partition: number; readonly urgent: boolean; readonly reason: string; readonly evidence: Record<string, number> }
  | { readonly kind: 'release'; readonly partition: number; readonly reason: string; readonly evidence: Record<string, number> };

function workerPeaks(parts: readonly PartitionInput[], workers: number, steps: (p: PartitionInput) => readonly number[]): number[][] {
  const h = Math.max(1, ...parts.map((p) => steps(p).length));
  const load = Array.from({ length: workers }, () => new Array<number>(h).fill(0));
  for (const p of parts) {
    const s = steps(p);
    for (let i = 0; i < h; i++) load[p.worker][i] += s[Math.min(i, s.length - 1)] ?? p.utilisation;
  }
  return load;
}

const peak = (xs: readonly number[]): number => Math.max(...xs);

/**
 * Picks the allowed worker with the most predicted headroom whose own predicted peak stays ≤
 * `ownLimit` and which could take the partition (`extra`) staying ≤ `withLimit`; undefined when none.
 */
export function placeShadow(p: PartitionInput, workerLoad: readonly number[], extra: number, ownLimit: number, withLimit = 1): number | undefined {
  let best: number | undefined;
  for (let w = 0; w < workerLoad.length; w++) {
    if (w === p.worker || p.forbidden.includes(w) || workerLoad[w] > ownLimit || workerLoad[w] + extra > withLimit) continue;
    if (best === undefined || workerLoad[w] < workerLoad[best]) best = w;
  }
  return best;
}

/** The proactive shadowing policy; see the module comment. Returns at most one action per partition. */
export function decideShadow(
  parts: readonly PartitionInput[],
  workers: number,
  now: number,
  config: ShadowPolicyConfig = DEFAULT_SHADOW_POLICY,
): PartitionAction[] {
  const forecastLoad = workerPeaks(parts, workers, (p) => p.forecast);
  const peaks = forecastLoad.map(peak);
  const actions: PartitionAction[] = [];
  // A worker holding a shadow is where that partition is headed: count it as taken.
  const reserved = [...peaks];
  for (const p of parts) if (p.standby?.role === 'shadow') reserved[p.standby.worker] += peak(p.forecast);
  for (let w = 0; w < workers; w++) {
    const mine = parts.filter((p) => p.worker === w);
    const firstAbove = forecastLoad[w].findIndex((x) => x > config.switchAt);
    const measured = mine.reduce((s, p) => s + p.utilisation, 0);
    const hottest = mine.filter((p) => !p.pinned).sort((a, b) => peak(b.forecast) - peak(a.forecast))[0];
    for (const p of mine) {
      const evidence = { workerPeak: peaks[w], measured, partitionPeak: peak(p.forecast) };
      // Switching only helps if the shadow's worker would carry the partition better than this one.
      const helps = p.standby !== undefined && (reserved[p.standby.worker] <= config.switchAt || reserved[p.standby.worker] < peaks[w]);
      if (p.standby?.role === 'shadow' && p === hottest && peaks[w] > config.switchAt && p.standby.caughtUp && helps) {
        const urgent = measured > config.switchAt || (firstAbove >= 0 && firstAbove < config.imminentSteps);
        const quiet = p.utilisation <= p.recentMean;
        if (urgent || quiet) {
          actions.push({ kind: 'switch', partition: p.partition, urgent, reason: urgent ? 'forecast crosses switchAt imminently' : 'forecast crosses switchAt; low-activity moment', evidence: { ...evidence, stepsToCross: firstAbove } });
          continue;
        }
      }
      // A shadow never switched to is kept for the cooldown (it may yet be needed, and releasing it
      // then re-creating it would be a second create/release cycle); a former primary for the dwell.
      const keep = p.standby?.role === 'shadow' ? Math.max(config.minDwellMs, config.cooldownMs) : config.minDwellMs;
      if (p.standby && peaks[w] < config.releaseBelow && now - p.standby.since >= keep) {
        actions.push({ kind: 'release', partition: p.partition, reason: `worker forecast below releaseBelow for the ${p.standby.role}`, evidence: { ...evidence, heldMs: now - p.standby.since } });
        continue;
      }
      if (!p.standby && p === hottest && peaks[w] > config.shadowAt) {
        const cooling = p.lastReleaseAt !== undefined && now - p.lastReleaseAt < config.cooldownMs && peaks[w] <= config.switchAt;
        if (cooling) continue;
        // Prefer a worker that could take the partition and stay within switchAt; failing that,
        // any worker itself within shadowAt: a caught-up standby is ready when room appears.
        const target = placeShadow(p, reserved, peak(p.forecast), config.shadowAt, config.switchAt)
          ?? placeShadow(p, reserved, peak(p.forecast), config.shadowAt, Infinity);
        if (target !== undefined) {
          reserved[target] += peak(p.forecast);
          actions.push({ kind: 'create', partition: p.partition, worker: target, reason: 'worker forecast above shadowAt', evidence: { ...evidence, targetPeak: peaks[target] } });
        }
      }
    }
  }
  return actions;
}

/** The reactive baseline; see the module comment. `windowSteps` is how many windows make up reactiveWindowMs. */
export function decideReactive(
  parts: readonly PartitionInput[],
  workers: number,
  windowSteps: number,
  config: ShadowPolicyConfig = DEFAULT_SHADOW_POLICY,
): PartitionAction[] {
  const actions: PartitionAction[] = [];
  const current = workerPeaks(parts, workers, (p) => [p.utilisation]).map(peak);
  const reserved = [...current];
  for (let w = 0; w < workers; w++) {
    const mine = parts.filter((p) => p.worker === w);
    const means = mine.map((p) => (p.measured.length >= windowSteps ? p.measured.slice(-windowSteps).reduce((s, x) => s + x, 0) / windowSteps : 0));
    const mean = means.reduce((s, x) => s + x, 0);
    for (const p of mine) {
      if (p.standby?.role === 'shadow' && p.standby.caughtUp) actions.push({ kind: 'switch', partition: p.partition, urgent: true, reason: 'copy caught up', evidence: { workerMean: mean } });
      else if (p.standby?.role === 'former') actions.push({ kind: 'release', partition: p.partition, reason: 'moved', evidence: { workerMean: mean } });
    }
    if (mean <= config.reactiveAt || mine.some((p) => p.standby)) continue;
    const hottest = mine.filter((p) => !p.pinned).sort((a, b) => b.utilisation - a.utilisation)[0];
    if (!hottest) continue;
    const target = placeShadow(hottest, reserved, hottest.utilisation, config.reactiveAt, 1);
    if (target === undefined) continue;
    reserved[target] += hottest.utilisation;
    actions.push({ kind: 'create', partition: hottest.partition, worker: target, reason: 'measured mean above reactiveAt over the window', evidence: { workerMean: mean } });
  }
  return actions;
}

/**
 * Failover placement of a partition whose worker died: the standby's worker when it is among the
 * `candidates` (live, allowed workers) and would carry the partition (`own`) within `limit`, else
 * the candidate with the lowest `load` (the first on a tie). `load[w]` is worker w's estimated load
 * without this partition. Undefined when there is no candidate.
 */
export function placeFailover(
  candidates: readonly number[], load: readonly number[], own: number, standbyWorker: number | undefined, limit: number,
): number | undefined {
  if (candidates.length === 0) return undefined;
  if (standbyWorker !== undefined && candidates.includes(standbyWorker) && load[standbyWorker] + own <= limit) return standbyWorker;
  return candidates.reduce((best, w) => (load[w] < load[best] ? w : best));
}
