/** Builds a real service (real store, real API) on a virtual clock for in-process API tests. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VirtualClock } from '../../src/core/clock.js';
import { validateConfig } from '../../src/config.js';
import { ShadowplaneService } from '../../src/service.js';
import type { ShadowStore } from '../../src/store/store.js';

/** A minute-aligned start time for virtual clocks. */
export const T0 = Date.UTC(2026, 0, 5, 12, 0, 0);

/** A service with its own temporary data directory; `cleanup()` stops it and removes the directory. */
export async function testService(config: Record<string, unknown> = {}, store?: ShadowStore) {
  const dataDir = mkdtempSync(join(tmpdir(), 'sp-svc-'));
  const clock = new VirtualClock(T0);
  const cfg = validateConfig({
    ...config,
    // the tests advance the clock a step at a time and expect each loop's tick on the boundary
    control: { tickSpread: '0s', ...(config.control as object | undefined) },
    store: { dataDir, ...(config.store as object | undefined) },
    targets: (config.targets as unknown[] | undefined) ?? [{ name: 'orders-db', kind: 'database', sampling: { rate: 1 } }],
  });
  const service = await ShadowplaneService.create(cfg, { clock, store });
  return {
    service,
    clock,
    dataDir,
    async cleanup() {
      await service.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** NDJSON text of the given items. */
export function ndjson(items: unknown[]): string {
  return items.map((i) => JSON.stringify(i)).join('\n') + '\n';
}
