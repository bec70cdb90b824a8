/** The policy registry used by the tier-replay command and the volume service. */
import { ArcPolicy } from './arc.js';
import { BeladyPolicy } from './belady.js';
import { LruPolicy } from './lru.js';
import type { PolicyFactory } from './policy.js';
import { ShadowplanePolicy } from './shadowplane.js';

/** Names accepted by `--policy`. `belady` may decline a copy; `belady-demand` promotes every miss. */
export const POLICY_NAMES = ['shadowplane', 'lru', 'arc', 'belady', 'belady-demand'] as const;

/** One of POLICY_NAMES. */
export type PolicyName = (typeof POLICY_NAMES)[number];

/** The factory for a policy name (the offline references read the future the harness passes). */
export const POLICIES: Readonly<Record<PolicyName, PolicyFactory>> = {
  shadowplane: (tier) => new ShadowplanePolicy(tier),
  lru: (tier) => new LruPolicy(tier),
  arc: (tier) => new ArcPolicy(tier),
  belady: (tier, future) => new BeladyPolicy(tier, future, true),
  'belady-demand': (tier, future) => new BeladyPolicy(tier, future, false),
};
