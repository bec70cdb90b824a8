/**
 * The kinds of shadow component the service knows, each behind its adapter (adapters/*.ts, one per
 * kind, over the component's contract module): the status read of a kind and the operator actions
 * relayed to it. See adapter.ts for the transport and the contract check.
 */
import type { ComponentAdapter, Endpoint } from './adapter.js';
import { partitionsAdapter, type PartitionsAction } from './adapters/partitions.js';
import { sqlAdapter, type SqlAction } from './adapters/sql.js';
import { trafficAdapter, type TrafficAction } from './adapters/traffic.js';
import { volumesAdapter, type VolumesAction } from './adapters/volumes.js';

export { MIGRATION_COMMANDS } from '../../shadows/traffic/contract.js';
export type { Endpoint } from './adapter.js';

/** A kind of component (config `shadows[].kind`). */
export type ShadowKind = 'traffic' | 'partitions' | 'volumes' | 'sql';

/** An operator action on a component, relayed to its admin API. */
export type ShadowAction = TrafficAction | PartitionsAction | VolumesAction | SqlAction;

// Each adapter takes only its kind's actions; `act` hands it only those (by ACTION_KIND).
const ADAPTERS: { readonly [K in ShadowKind]: ComponentAdapter<ShadowAction> } = {
  traffic: trafficAdapter as ComponentAdapter<ShadowAction>,
  partitions: partitionsAdapter as ComponentAdapter<ShadowAction>,
  volumes: volumesAdapter as ComponentAdapter<ShadowAction>,
  sql: sqlAdapter as ComponentAdapter<ShadowAction>,
};

/** The kind each action applies to. */
export const ACTION_KIND = Object.fromEntries(
  (Object.entries(ADAPTERS) as [ShadowKind, ComponentAdapter<ShadowAction>][]).flatMap(([kind, a]) => a.ops.map((op) => [op, kind])),
) as Record<ShadowAction['op'], ShadowKind>;

/** Reads a component's status (its kind's view). Rejects as `ask` does (adapter.ts). */
export function readStatus(kind: ShadowKind, ep: Endpoint): Promise<unknown> {
  return ADAPTERS[kind].readStatus(ep);
}

/** Carries out `action` on a component of its kind (see ACTION_KIND); resolves to the component's answer. */
export function act(ep: Endpoint, action: ShadowAction, why: string): Promise<unknown> {
  return ADAPTERS[ACTION_KIND[action.op]].act(ep, action, why);
}
