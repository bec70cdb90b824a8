/**
 * What each copy of a volume costs per month: the live volume and the complete shadow hold every
 * block; a hot tier is paid for its whole capacity, whatever it holds.
 */
import type { TierProfile } from './profile.js';

/** One copy of a volume as reported: blocks held validly, capacity (null: the whole volume) and monthly cost. */
export interface TierCost {
  name: string;
  validBlocks: number;
  capacityBlocks: number | null;
  costPerMonth: number;
}

/** The copies to report on: the volume's geometry, its live and shadow profiles, and each hot tier. */
export interface CostInput {
  readonly blockSize: number;
  readonly blocks: number;
  readonly live: TierProfile;
  readonly shadow: TierProfile;
  /** Shadow blocks not validly held (stale). */
  readonly shadowStale: number;
  readonly hot: readonly { readonly profile: TierProfile; readonly validBlocks: number; readonly capacity: number }[];
}

/** Each copy's holdings and monthly cost, live first, then the shadow, then the hot tiers in order. */
export function tierCosts(c: CostInput): TierCost[] {
  const monthly = (blocks: number, profile: TierProfile): number => ((blocks * c.blockSize) / 2 ** 30) * profile.costPerGiBMonth;
  return [
    { name: 'live', validBlocks: c.blocks, capacityBlocks: null, costPerMonth: monthly(c.blocks, c.live) },
    { name: `shadow-${c.shadow.name}`, validBlocks: c.blocks - c.shadowStale, capacityBlocks: null, costPerMonth: monthly(c.blocks, c.shadow) },
    ...c.hot.map((h) => ({ name: h.profile.name, validBlocks: h.validBlocks, capacityBlocks: h.capacity, costPerMonth: monthly(h.capacity, h.profile) })),
  ];
}
