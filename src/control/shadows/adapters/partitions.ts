/** The stream service (docs/partitions.md): partitions with their standbys, routing, per worker what it owns and hosts; operator overrides. */
import { PartitionView, PartitionsAnswer, RoutingAnswer, type ForbidBody, type MoveBody, type PinBody } from '../../../shadows/partitions/contract.js';
import { ask, type ComponentAdapter, type Endpoint } from '../adapter.js';

/** An operator override on a stream service. */
export type PartitionsAction =
  | { readonly op: 'pin'; readonly partition: number; readonly pinned: boolean }
  | { readonly op: 'forbid'; readonly partition: number; readonly worker: number; readonly forbidden: boolean }
  | { readonly op: 'move'; readonly partition: number; readonly worker: number };

async function readStatus(ep: Endpoint) {
  const [parts, routing] = await Promise.all([ask(ep, 'GET', '/v1/partitions', PartitionsAnswer), ask(ep, 'GET', '/v1/routing', RoutingAnswer)]);
  const workers = new Map<number, { worker: number; owns: number[]; standbys: number[] }>();
  const at = (w: number) => workers.get(w) ?? workers.set(w, { worker: w, owns: [], standbys: [] }).get(w)!;
  for (const p of parts) {
    at(p.worker).owns.push(p.partition);
    if (p.standby) at(p.standby.worker).standbys.push(p.partition);
  }
  return { partitions: parts, routing, workers: [...workers.values()].sort((a, b) => a.worker - b.worker) };
}

/** The partitions adapter. */
export const partitionsAdapter: ComponentAdapter<PartitionsAction> = {
  ops: ['pin', 'forbid', 'move'],
  readStatus,
  act(ep, action) {
    const path = `/v1/partitions/${action.partition}/${action.op}`;
    switch (action.op) {
      case 'pin':
        return ask(ep, 'POST', path, PartitionView, { pinned: action.pinned } satisfies PinBody);
      case 'forbid':
        return ask(ep, 'POST', path, PartitionView, { worker: action.worker, forbidden: action.forbidden } satisfies ForbidBody);
      case 'move':
        return ask(ep, 'POST', path, PartitionView, { worker: action.worker } satisfies MoveBody);
    }
  },
};
