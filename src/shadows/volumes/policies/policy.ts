/**
 * The contract between a placement policy and the fast tier it manages. The tier (the replay
 * harness, or the live volume's placement loop) owns the set of resident blocks; a policy only
 * asks it to promote (copy a block up) or evict. That split is what makes "the policy sees only
 * the past" structural: the harness decides hit or miss *before* the policy hears of the request.
 */

/** The fast tier as a policy sees it. */
export interface FastTier {
  /** Capacity in blocks. */
  readonly capacity: number;
  /** Requests that pass while a copy up is in flight (0: a copy completes before the next request). */
  readonly copyLag: number;
  /** Number of blocks resident now. */
  size(): number;
  /** True when the block is resident. */
  has(block: number): boolean;
  /**
   * Copies a block up (counted as one promotion). Throws when the tier is full or the block is
   * already resident: a policy must evict first, and a double copy is a policy bug.
   */
  promote(block: number): void;
  /** Drops a resident block (the slow copy stays valid, so no copy traffic). Throws if not resident. */
  evict(block: number): void;
}

/**
 * A placement policy. `access` is called once per request, after the tier decided whether it was a
 * hit; the policy may then promote the requested block (synchronous promotion on miss, as a cache
 * does), skip it (admission filtering), or promote other blocks ahead of use (prefetch).
 */
export interface PlacementPolicy {
  /** Short name for reports. */
  readonly name: string;
  /** Hears request number `t` (0-based) for `block`; `hit` is whether it was resident when requested. */
  access(t: number, block: number, hit: boolean): void;
}

/** Builds a policy for a tier; `future` is given only to the offline reference (Belady's MIN). */
export type PolicyFactory = (tier: FastTier, future: Float64Array) => PlacementPolicy;
