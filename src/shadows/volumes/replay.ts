/**
 * The tier-replay harness: replays a trace of I/Os against a fast tier of N blocks under a
 * placement policy. An I/O is a hit only when every block it covers is resident (and its copy
 * complete) when it arrives; the harness decides that before the policy hears of the I/O, so what
 * the policy copies up in response is decided after the I/O was served. Copy traffic is counted in
 * blocks. Replaying the per-block request stream (`blockRequests`) gives the literature's unit.
 */
import { ShadowplaneError } from '../../core/errors.js';
import { serviceTimeMs, type TierProfile } from './profile.js';
import type { FastTier, PlacementPolicy, PolicyFactory, PromotionReason } from './policies/policy.js';
import type { IoTrace } from './trace.js';

/** What one replayed request stands for: a whole I/O, or one block of it. */
export type ReplayUnit = 'io' | 'block';

/** The outcome of one replay. */
export interface ReplayResult {
  readonly policy: string;
  readonly unit: ReplayUnit;
  readonly fastBlocks: number;
  /** Requests replayed (I/Os, or blocks with unit `block`). */
  readonly requests: number;
  /** Requests served entirely from the fast tier. */
  readonly hits: number;
  /** hits / requests, in [0, 1]. */
  readonly hitRatio: number;
  /** Blocks copied up to the fast tier (copy traffic = promotions x block size). */
  readonly promotions: number;
  /** Promotions by reason; readahead + forecast are the copies made ahead of any request. */
  readonly promotionsBy: Readonly<Record<PromotionReason, number>>;
  /** Bytes copied up. */
  readonly copyBytes: number;
  /** Device time the requests need under the profiles (hits on fast, misses on slow, one I/O each), in seconds. */
  readonly readSeconds: number;
  /** Device time the promotions need (read slow + write fast, per block), in seconds. */
  readonly copySeconds: number;
  /** Monthly price of the fast tier's capacity, in dollars. */
  readonly fastCostPerMonth: number;
  /** The copy lag the replay ran with (requests). */
  readonly copyLag: number;
}

/** Replay options. */
export interface ReplayOptions {
  readonly fastBlocks: number;
  readonly blockBytes: number;
  readonly fast: TierProfile;
  readonly slow: TierProfile;
  /** Label for the report: what one entry of the trace stands for (default `io`). */
  readonly unit?: ReplayUnit;
  /**
   * Requests that pass while a copy is in flight (default 0: a copy made while serving request t
   * is complete for request t+1, as for every cache simulator). With lag k, a copy made at request
   * t serves requests from t+1+k on; earlier requests for the block count as misses.
   */
  readonly copyLag?: number;
}

/** The harness's fast tier: a set with a capacity check and copy counters. */
class SimTier implements FastTier {
  readonly resident = new Set<number>();
  /** Request index from which a promoted block can serve (kept only when there is a copy lag). */
  readonly readyAt = new Map<number, number>();
  readonly promotionsBy: Record<PromotionReason, number> = { demand: 0, readahead: 0, forecast: 0 };
  now = 0;

  constructor(
    readonly capacity: number,
    private readonly lag: number,
  ) {}

  get copyLag(): number {
    return this.lag;
  }

  /** True when the block is resident and its copy has completed by request t. */
  serves(block: number, t: number): boolean {
    if (!this.resident.has(block)) return false;
    if (this.lag === 0) return true;
    const ready = this.readyAt.get(block);
    return ready === undefined || ready <= t;
  }

  size(): number {
    return this.resident.size;
  }

  has(block: number): boolean {
    return this.resident.has(block);
  }

  promote(block: number, reason: PromotionReason = 'demand'): void {
    if (this.resident.size >= this.capacity) throw new Error(`promote(${block}): fast tier full (${this.capacity})`);
    if (this.resident.has(block)) throw new Error(`promote(${block}): already resident`);
    this.resident.add(block);
    if (this.lag > 0) this.readyAt.set(block, this.now + 1 + this.lag);
    this.promotionsBy[reason]++;
  }

  evict(block: number): void {
    if (!this.resident.delete(block)) throw new Error(`evict(${block}): not resident`);
    if (this.lag > 0) this.readyAt.delete(block);
  }
}

/**
 * Replays `trace` under the policy built by `factory`. Throws SHADOWPLANE_ERR_VALIDATION on a
 * non-positive size, and a plain Error if the policy breaks the tier's contract (a bug).
 */
export function replay(trace: IoTrace, factory: PolicyFactory, opts: ReplayOptions): ReplayResult {
  if (!Number.isInteger(opts.fastBlocks) || opts.fastBlocks <= 0) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', 'fast-blocks must be a positive integer', [
      { path: 'fastBlocks', message: 'must be a positive integer' },
    ]);
  }
  const lag = opts.copyLag ?? 0;
  if (!Number.isInteger(lag) || lag < 0) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', 'copy-lag must be an integer >= 0', [
      { path: 'copyLag', message: 'must be an integer >= 0' },
    ]);
  }
  const tier = new SimTier(opts.fastBlocks, lag);
  const policy: PlacementPolicy = factory(tier, { future: trace, blockBytes: opts.blockBytes });
  const b = opts.blockBytes;
  const n = trace.start.length;
  let hits = 0;
  let readMs = 0;
  for (let t = 0; t < n; t++) {
    const start = trace.start[t];
    const count = trace.count[t];
    let hit = true;
    for (let x = start; x < start + count && hit; x++) hit = tier.serves(x, t);
    if (hit) hits++;
    readMs += serviceTimeMs(hit ? opts.fast : opts.slow, count * b);
    tier.now = t;
    policy.access({ t, start, count, time: trace.time[t] });
  }
  const by = tier.promotionsBy;
  const promotions = by.demand + by.readahead + by.forecast;
  return {
    policy: policy.name,
    unit: opts.unit ?? 'io',
    fastBlocks: opts.fastBlocks,
    requests: n,
    hits,
    hitRatio: n === 0 ? 0 : hits / n,
    promotions,
    promotionsBy: { ...by },
    copyBytes: promotions * b,
    readSeconds: readMs / 1000,
    copySeconds: (promotions * (serviceTimeMs(opts.slow, b) + serviceTimeMs(opts.fast, b))) / 1000,
    fastCostPerMonth: ((opts.fastBlocks * b) / 2 ** 30) * opts.fast.costPerGiBMonth,
    copyLag: lag,
  };
}
