/** Past metric values written straight into a service's store, for tests that need a forecast at once. */
import type { ShadowplaneService } from '../../src/service.js';
import { Window } from '../../src/store/window.js';

const MIN = 60_000;

/** Writes `values` as closed one-minute windows of `metric`, the last ending at the current wall-clock minute. */
export async function writeHistory(service: ShadowplaneService, target: string, metric: string, values: number[]): Promise<void> {
  const now = Date.now();
  const minute = now - (now % MIN);
  await service.store.writeWindows(values.map((v, i) => {
    const start = minute - (values.length - i) * MIN;
    const w = new Window(start, 60);
    w.addSample(start, v);
    return w.toRow(target, 'metric', metric, true);
  }));
}
