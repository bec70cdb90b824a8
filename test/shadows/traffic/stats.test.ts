import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bind, ProxyMetrics, seriesValue } from '../../../src/shadows/traffic/stats.js';

test('bound series show at 0, count once per increment across scrapes, and one label set is one series', async () => {
  const m = new ProxyMetrics();
  const ok = bind(m.requests, { upstream: 'primary', route: 'r', code: '2xx' });
  assert.match(await m.render(), /^shadowplane_proxy_requests_total\{code="2xx",route="r",upstream="primary"\} 0$/m);
  ok.inc();
  ok.inc(2);
  assert.equal(await seriesValue(m.requests, { route: 'r', upstream: 'primary', code: '2xx' }), 3);
  assert.equal(await seriesValue(m.requests, { route: 'r', upstream: 'primary', code: '2xx' }), 3, 'a second read adds nothing');
  const again = bind(m.requests, { route: 'r', upstream: 'primary', code: '2xx' });
  again.inc();
  assert.equal(ok.get(), 4);
  m.requests.inc({ route: 'r', upstream: 'shadow', code: '5xx' });
  const text = await m.render();
  assert.match(text, /^shadowplane_proxy_requests_total\{code="2xx",route="r",upstream="primary"\} 4$/m);
  assert.match(text, /^shadowplane_proxy_requests_total\{route="r",upstream="shadow",code="5xx"\} 1$/m);
  assert.match(text, /^# TYPE shadowplane_proxy_shadow_weight gauge$/m);
});
