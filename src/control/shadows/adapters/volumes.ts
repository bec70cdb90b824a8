/** The volume service (docs/volumes.md): each volume's placement, heat, tiers and failover state; failover and failback. */
import { MAX_REASON, VolumeStats, VolumesAnswer, type FailoverBody } from '../../../shadows/volumes/contract.js';
import { ask, seg, type ComponentAdapter, type Endpoint } from '../adapter.js';

/** A failover or failback of one volume. */
export type VolumesAction = { readonly op: 'failover' | 'failback'; readonly volume: string };

async function readStatus(ep: Endpoint) {
  const names = await ask(ep, 'GET', '/v1/volumes', VolumesAnswer);
  return { volumes: await Promise.all(names.map((v) => ask(ep, 'GET', `/v1/volumes/${seg(v.name)}`, VolumeStats))) };
}

/** The volumes adapter. */
export const volumesAdapter: ComponentAdapter<VolumesAction> = {
  ops: ['failover', 'failback'],
  readStatus,
  act(ep, action, why) {
    const path = `/v1/volumes/${seg(action.volume)}/${action.op}`;
    if (action.op === 'failback') return ask(ep, 'POST', path, VolumeStats);
    return ask(ep, 'POST', path, VolumeStats, { reason: why.slice(0, MAX_REASON) } satisfies FailoverBody);
  },
};
