/** The policy registry used by the tier-replay command and the volume service. */
import { ArcPolicy } from './arc.js';
import { BeladyPolicy } from './belady.js';
import type { ForecastOptions } from './forecast-predictor.js';
import { LruPolicy } from './lru.js';
import type { FastTier, PlacementPolicy, PolicyContext, PolicyFactory } from './policy.js';
import { Readahead, readaheadDefaults } from './readahead.js';
import { shadowplanePolicy } from './shadowplane.js';

/**
 * Names accepted by `--policy`. `arc-ra`: ARC with Linux-style sequential readahead;
 * `shadowplane-noforecast`: shadowplane without its forecast part; `min` may decline a copy,
 * `min-demand` copies every missed block.
 */
export const POLICY_NAMES = ['lru', 'arc', 'arc-ra', 'shadowplane', 'shadowplane-noforecast', 'min', 'min-demand'] as const;

/** One of POLICY_NAMES. */
export type PolicyName = (typeof POLICY_NAMES)[number];

/** Settings a factory takes besides the tier (the forecast's bucket and seasons follow the trace's clock). */
export interface PolicySettings {
  readonly forecast?: Partial<ForecastOptions>;
}

function future(ctx: PolicyContext): NonNullable<PolicyContext['future']> {
  if (ctx.future === undefined) throw new Error('MIN needs the whole trace (offline reference only)');
  return ctx.future;
}

/** The factory for a policy name. */
export function policyFactory(name: PolicyName, settings: PolicySettings = {}): PolicyFactory {
  switch (name) {
    case 'lru':
      return (tier) => new LruPolicy(tier);
    case 'arc':
      return (tier) => new ArcPolicy(tier);
    case 'arc-ra':
      return (tier, ctx) => new ArcPolicy(tier, [new Readahead(readaheadDefaults(ctx.blockBytes))], 'arc-ra');
    case 'shadowplane':
      return (tier) => shadowplanePolicy(tier, { forecast: settings.forecast ?? {} });
    case 'shadowplane-noforecast':
      return (tier) => shadowplanePolicy(tier, { forecast: null });
    case 'min':
      return (tier, ctx) => new BeladyPolicy(tier, future(ctx), true);
    case 'min-demand':
      return (tier, ctx) => new BeladyPolicy(tier, future(ctx), false);
  }
}

/** Factories with default settings, by name. */
export const POLICIES: Readonly<Record<PolicyName, PolicyFactory>> = Object.fromEntries(
  POLICY_NAMES.map((n) => [n, policyFactory(n)]),
) as Record<PolicyName, PolicyFactory>;

/** Builds a policy directly (for callers that hold a tier, such as the volume service). */
export function buildPolicy(name: PolicyName, tier: FastTier, ctx: PolicyContext, settings: PolicySettings = {}): PlacementPolicy {
  return policyFactory(name, settings)(tier, ctx);
}
