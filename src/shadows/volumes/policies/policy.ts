/**
 * The contract between a placement policy and the fast tier it manages. The tier (the replay
 * harness, or the live volume's placement loop) owns the set of resident blocks; a policy only
 * asks it to promote (copy a block up) or evict. That split is what makes "the policy sees only
 * the past" structural: the harness decides hit or miss *before* the policy hears of the I/O.
 */

/** Why a block is copied up: the I/O asked for it, or a predictor expects it to be asked for. */
export type PromotionReason = 'demand' | 'readahead' | 'forecast';

/** The fast tier as a policy sees it. */
export interface FastTier {
  /** Capacity in blocks. */
  readonly capacity: number;
  /** I/Os that pass while a copy up is in flight (0: a copy completes before the next I/O). */
  readonly copyLag: number;
  /** Number of blocks resident now. */
  size(): number;
  /** True when the block is resident. */
  has(block: number): boolean;
  /**
   * Copies a block up (counted as one block of copy traffic, under `reason`). Throws when the tier
   * is full or the block is already resident: a policy must evict first, and a double copy is a bug.
   */
  promote(block: number, reason?: PromotionReason): void;
  /** Drops a resident block (the slow copy stays valid, so no copy traffic). Throws if not resident. */
  evict(block: number): void;
}

/** One I/O as a policy hears it. */
export interface IoRequest {
  /** Index of the I/O (0-based, in arrival order). */
  readonly t: number;
  /** First block. */
  readonly start: number;
  /** Blocks covered (at least 1). */
  readonly count: number;
  /** Arrival time in seconds (the trace's clock; the I/O index when it has none). */
  readonly time: number;
}

/**
 * A placement policy. `access` is called once per I/O, after it was served (hit only when every
 * block was resident); the policy may then promote the I/O's blocks (as a cache does), skip them
 * (admission filtering), or promote other blocks ahead of use (readahead, forecast).
 */
export interface PlacementPolicy {
  /** Short name for reports. */
  readonly name: string;
  /** Hears one served I/O; residency of its blocks is on the tier (`tier.has`). */
  access(io: IoRequest): void;
}

/** What a factory may use besides the tier. */
export interface PolicyContext {
  /** The whole trace being replayed: only the offline reference (MIN) reads it. */
  readonly future?: { readonly start: Float64Array; readonly count: Uint32Array };
  /** Bytes per block (readahead windows are sized in bytes, like Linux's read_ahead_kb). */
  readonly blockBytes: number;
}

/** Builds a policy for a tier. */
export type PolicyFactory = (tier: FastTier, ctx: PolicyContext) => PlacementPolicy;
