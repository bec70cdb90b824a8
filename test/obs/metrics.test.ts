import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ServiceMetrics } from '../../src/obs/metrics.js';

test('a store gauge that cannot be read is left out of that scrape; the others, and later scrapes, are served', async () => {
  let storeDown = true;
  const errors: string[] = [];
  const metrics = new ServiceMetrics({
    seriesCount: async () => {
      if (storeDown) throw new Error('timeout exceeded when trying to connect');
      return 42;
    },
    storeSizeBytes: async () => 4096,
    openWindows: () => 7,
    quarantinedWindows: async () => 0,
    onReadError: (gauge, err) => errors.push(`${gauge}: ${err.message}`),
  });
  const down = await metrics.registry.metrics();
  assert.doesNotMatch(down, /^shadowplane_series /m);
  assert.match(down, /^shadowplane_open_windows 7$/m);
  assert.match(down, /^shadowplane_store_size_bytes 4096$/m);
  assert.deepEqual(errors, ['shadowplane_series: timeout exceeded when trying to connect']);
  storeDown = false;
  assert.match(await metrics.registry.metrics(), /^shadowplane_series 42$/m);
});
