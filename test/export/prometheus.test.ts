/**
 * Prometheus out, against a real Prometheus: it scrapes the service's /metrics and answers PromQL
 * over its HTTP API with the forecast, units, scores and shadow-component status the service
 * computed; every exported name is documented in docs/metrics.md with its help text.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { validateConfig } from '../../src/config.js';
import { outlookOf } from '../../src/control/outlook.js';
import { buildAdmin as buildVolumeAdmin } from '../../src/shadows/volumes/admin.js';
import type { Volume } from '../../src/shadows/volumes/volume.js';
import { ShadowplaneService } from '../../src/service.js';
import { writeHistory } from '../helpers/history.js';
import { peerSkipReason, promQuery, PROMETHEUS_BIN, startPrometheus, type Peer } from '../helpers/peers.js';
import { freePort, waitFor } from '../helpers/wait.js';
import { testVolume } from '../shadows/volumes/helpers.js';

const MIN = 60_000;
const root = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/dist\/$/, '/');
const skip = peerSkipReason(PROMETHEUS_BIN);

describe('Prometheus scrapes the forecast', { skip }, () => {
  let dir: string;
  let service: ShadowplaneService;
  let prometheus: Peer;
  let volume: Volume;
  let volumeApp: ReturnType<typeof buildVolumeAdmin>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sp-promout-'));
    volume = await testVolume({ name: 'vol1' });
    volumeApp = buildVolumeAdmin(new Map([['vol1', volume]]));
    await volumeApp.listen({ host: '127.0.0.1', port: 0 });
    const volumeUrl = `http://127.0.0.1:${(volumeApp.server.address() as { port: number }).port}`;
    const config = validateConfig({
      server: { port: 0 },
      store: { dataDir: dir },
      // the loops are ticked by the test, so no tick changes the values between two reads
      control: { enabled: false },
      targets: [{
        name: 'orders', kind: 'service', actuator: { type: 'replay', provisioningDelayMs: 2 * MIN },
        control: { metric: 'load', capacityPerUnit: 10, initialUnits: 2, minWindows: 5, season: '0s', history: '2h', provisioningDelay: '2m', horizon: '10m', scaleUpLookahead: '5m' },
      }],
      shadows: [
        { name: 'vol', kind: 'volumes', url: volumeUrl, target: 'orders', interval: '1s' },
        { name: 'gone', kind: 'volumes', url: `http://127.0.0.1:${await freePort()}`, interval: '1s' },
      ],
    });
    service = await ShadowplaneService.create(config);
    const address = await service.start();
    await writeHistory(service, 'orders', 'load', Array.from({ length: 60 }, (_, i) => 40 + i + 5 * Math.sin(i)));
    const record = await service.controller.loop('orders').tick();
    assert.ok(record?.forecast, `the tick made a forecast: ${record?.message}`);
    prometheus = await startPrometheus([
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      'scrape_configs:',
      '  - job_name: shadowplane',
      `    static_configs: [{ targets: ["${new URL(address).host}"] }]`,
    ].join('\n'));
  });

  after(async () => {
    await prometheus?.stop();
    await service?.stop();
    await volumeApp?.close();
    await volume?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('PromQL answers with what the loop decided', async () => {
    const o = await outlookOf(service.controller.loop('orders'), service.store);
    assert.ok(o.forecastMean !== null && o.forecastUpper !== null && o.desiredUnits !== null && o.demand !== null);
    const one = async (q: string) => waitFor(q, async () => {
      const r = await promQuery(prometheus.url, q);
      return r.length === 1 ? { labels: r[0].metric, value: Number(r[0].value[1]) } : undefined;
    });
    const close = (got: number, want: number) => assert.ok(Math.abs(got - want) <= 1e-9 * Math.max(1, Math.abs(want)), `${got} != ${want}`);

    const desired = await one('shadowplane_target_desired_units{target="orders"}');
    assert.equal(desired.value, o.desiredUnits);
    assert.equal(desired.labels.job, 'shadowplane');
    const upper = await one('shadowplane_target_forecast_demand_upper{target="orders"}');
    close(upper.value, o.forecastUpper);
    assert.equal(upper.labels.quantile, '0.95');
    assert.equal(upper.labels.signal, 'load');
    close((await one('shadowplane_target_forecast_demand{target="orders",signal="load"}')).value, o.forecastMean);
    close((await one('shadowplane_target_demand{target="orders"}')).value, o.demand);
    assert.equal((await one('shadowplane_target_ready_units{target="orders"}')).value, 2);
    assert.equal((await one('shadowplane_target_lead_time_seconds{target="orders"}')).value, 120);
    // the KEDA / prometheus-adapter query of docs/metrics.md: forecast units at the lead time
    const units = await one('ceil(shadowplane_target_forecast_demand_upper{target="orders"} / 10 / 0.95)');
    assert.equal(units.value, Math.ceil(o.forecastUpper / 10 / 0.95));
    const scores = await waitFor('both anomaly scores', async () => {
      const r = await promQuery(prometheus.url, 'shadowplane_target_anomaly_score{target="orders"}');
      return r.length === 2 ? r : undefined;
    });
    assert.deepEqual(scores.map((s) => s.metric.scope).sort(), ['component', 'demand']);
    for (const s of scores) assert.ok(Number(s.value[1]) >= 0 && Number(s.value[1]) <= 1);
    const risk = await one('shadowplane_target_failure_risk{target="orders"}');
    assert.ok(risk.value >= 0 && risk.value <= 1);
    assert.equal((await one('shadowplane_target_open_anomaly_events{target="orders"}')).value, o.openAnomalies);

    assert.equal((await one('shadowplane_shadow_up{shadow="vol"}')).value, 1);
    assert.equal((await one('shadowplane_shadow_up{shadow="vol"}')).labels.target, 'orders');
    assert.equal((await one('shadowplane_shadow_up{shadow="gone"}')).value, 0);
    assert.equal((await promQuery(prometheus.url, 'shadowplane_shadow_last_seen_timestamp_seconds{shadow="gone"}')).length, 0);
  });

  test('every exported name is documented in docs/metrics.md with its help text', async () => {
    const text = await (await service.api.inject({ method: 'GET', url: '/metrics' })).body;
    const exported = new Map([...text.matchAll(/^# HELP (shadowplane_(?:target|shadow)_\w+) (.*)$/gm)].map((m) => [m[1], m[2]]));
    const doc = readFileSync(join(root, 'docs/metrics.md'), 'utf8');
    const documented = new Map([...doc.matchAll(/^\| `(shadowplane_(?:target|shadow)_\w+)` \|[^|]*\|[^|]*\| (.*) \|$/gm)].map((m) => [m[1], m[2]]));
    assert.deepEqual([...documented.keys()].sort(), [...exported.keys()].sort());
    for (const [name, help] of exported) assert.equal(documented.get(name), help.replace(/\\\\/g, '\\'), name);
  });
});
