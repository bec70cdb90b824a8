/**
 * The tier-replay harness: replays a block trace against a fast tier of N blocks under a placement
 * policy. A request is a hit when its block is resident at that moment; the tier decides that
 * before the policy hears of the request, and it enforces capacity on every promotion.
 */
import { ShadowplaneError } from '../../core/errors.js';
import { serviceTimeMs, type TierProfile } from './profile.js';
import type { FastTier, PlacementPolicy, PolicyFactory } from './policies/policy.js';

/** The outcome of one replay. */
export interface ReplayResult {
  readonly policy: string;
  readonly fastBlocks: number;
  readonly requests: number;
  readonly hits: number;
  /** hits / requests, in [0, 1]. */
  readonly hitRatio: number;
  /** Blocks copied up to the fast tier (copy traffic = promotions x block size). */
  readonly promotions: number;
  /** Promotions of blocks not requested at that moment (prefetch); a subset of promotions. */
  readonly prefetches: number;
  /** Bytes copied up. */
  readonly copyBytes: number;
  /** Device time the requests need under the profiles (hits on fast, misses on slow), in seconds. */
  readonly readSeconds: number;
  /** Device time the promotions need (read slow + write fast), in seconds. */
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
  promotions = 0;
  prefetches = 0;
  current = -1;
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

  promote(block: number): void {
    if (this.resident.size >= this.capacity) throw new Error(`promote(${block}): fast tier full (${this.capacity})`);
    if (this.resident.has(block)) throw new Error(`promote(${block}): already resident`);
    this.resident.add(block);
    if (this.lag > 0) this.readyAt.set(block, this.now + 1 + this.lag);
    this.promotions++;
    if (block !== this.current) this.prefetches++;
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
export function replay(trace: Float64Array, factory: PolicyFactory, opts: ReplayOptions): ReplayResult {
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
  const policy: PlacementPolicy = factory(tier, trace);
  let hits = 0;
  for (let t = 0; t < trace.length; t++) {
    const block = trace[t];
    if (tier.serves(block, t)) hits++;
    tier.current = block;
    tier.now = t;
    // The policy is told whether the block is resident in its own view (a copy may still be in flight).
    policy.access(t, block, tier.resident.has(block));
  }
  const n = trace.length;
  const b = opts.blockBytes;
  return {
    policy: policy.name,
    fastBlocks: opts.fastBlocks,
    requests: n,
    hits,
    hitRatio: n === 0 ? 0 : hits / n,
    promotions: tier.promotions,
    prefetches: tier.prefetches,
    copyBytes: tier.promotions * b,
    readSeconds: (hits * serviceTimeMs(opts.fast, b) + (n - hits) * serviceTimeMs(opts.slow, b)) / 1000,
    copySeconds: (tier.promotions * (serviceTimeMs(opts.slow, b) + serviceTimeMs(opts.fast, b))) / 1000,
    fastCostPerMonth: ((opts.fastBlocks * b) / 2 ** 30) * opts.fast.costPerGiBMonth,
    copyLag: lag,
  };
}
