/** The traffic proxy (docs/traffic.md): routes with their mirror counts, comparison and migration; migrations started and commanded. */
import { Type } from '@sinclair/typebox';
import { ComparisonAnswer, MigrationView, RoutesAnswer, type MigrationCommand, type MigrationStartBody } from '../../../shadows/traffic/contract.js';
import { ask, seg, type ComponentAdapter, type Endpoint } from '../adapter.js';

/** An action on a traffic proxy. */
export type TrafficAction =
  | { readonly op: 'migration'; readonly route: string; readonly command: MigrationCommand }
  | { readonly op: 'migration-start'; readonly route: string; readonly steps?: readonly number[] };

const MigrationOrNone = Type.Union([MigrationView, Type.Null()]);

async function readStatus(ep: Endpoint) {
  const { routes } = await ask(ep, 'GET', '/v1/routes', RoutesAnswer);
  return {
    routes: await Promise.all(routes.map(async (r) => {
      const cfg = r.config;
      const cmp = await ask(ep, 'GET', `/v1/routes/${seg(cfg.name)}/comparison`, ComparisonAnswer);
      const migration = r.migration ? await ask(ep, 'GET', `/v1/routes/${seg(cfg.name)}/migration`, MigrationOrNone) : null;
      return {
        name: cfg.name, host: cfg.host ?? null, pathPrefix: cfg.pathPrefix ?? '/', weight: r.weight, mirrorFraction: cfg.mirror?.fraction ?? 0,
        mirrorState: r.mirror, upstreams: r.upstreams, mirror: cmp.mirror, comparison: cmp.comparison, migration,
      };
    })),
  };
}

/** The traffic adapter. */
export const trafficAdapter: ComponentAdapter<TrafficAction> = {
  ops: ['migration', 'migration-start'],
  readStatus,
  act(ep, action, why) {
    if (action.op === 'migration') return ask(ep, 'POST', `/v1/routes/${seg(action.route)}/migration/${action.command}`, MigrationView);
    // The proxy keeps the reason with the migration; without steps it uses the route's policy.
    const body: MigrationStartBody = { reason: why, ...(action.steps ? { policy: { steps: [...action.steps] } } : {}) };
    return ask(ep, 'POST', `/v1/routes/${seg(action.route)}/migrations`, MigrationView, body);
  },
};
