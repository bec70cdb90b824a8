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
}

/** Replay options. */
export interface ReplayOptions {
  readonly fastBlocks: number;
  readonly blockBytes: number;
  readonly fast: TierProfile;
  readonly slow: TierProfile;
}

/** The harness's fast tier: a set with a capacity check and copy counters. */
class SimTier implements FastTier {
  readonly resident = new Set<number>();
  promotions = 0;
  prefetches = 0;
  current = -1;

  constructor(readonly capacity: number) {}

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
    this.promotions++;
    if (block !== this.current) this.prefetches++;
  }

  evict(block: number): void {
    if (!this.resident.delete(block)) throw new Error(`evict(${block}): not resident`);
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
  const tier = new SimTier(opts.fastBlocks);
  const policy: PlacementPolicy = factory(tier, trace);
  let hits = 0;
  for (let t = 0; t < trace.length; t++) {
    const block = trace[t];
    const hit = tier.resident.has(block);
    if (hit) hits++;
    tier.current = block;
    policy.access(t, block, hit);
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
  };
}
