/**
 * OpenTelemetry OTLP/HTTP metrics in: the OpenTelemetry JS SDK's own OTLP exporters (protobuf and
 * JSON) export a counter, a gauge and a histogram to `POST /v1/metrics` of a running service; the
 * series rules map them onto the target named by the `service.name` resource attribute, with the
 * chosen attributes kept. Bad bodies, partial and total rejection answer as OTLP/HTTP says.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { OTLPMetricExporter as ProtoExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPMetricExporter as JsonExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { validateConfig } from '../../src/config.js';
import { ShadowplaneService } from '../../src/service.js';

const TOKEN = 'otlp-ingest-token-0123456789';

describe('OTLP/HTTP metrics from the OpenTelemetry SDK', () => {
  let dir: string;
  let service: ShadowplaneService;
  let url: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sp-otlp-'));
    service = await ShadowplaneService.create(validateConfig({
      server: { port: 0, token: TOKEN, bodyLimit: 1024 * 1024 },
      store: { dataDir: dir },
      targets: [{ name: 'checkout', kind: 'service' }, { name: 'payments', kind: 'service' }],
      ingest: {
        otlp: { enabled: true },
        seriesRules: [
          { match: { service_name: 'checkout|payments', __name__: 'orders_placed|queue_depth|http_server_duration_.*' }, targetLabel: 'service_name', labels: ['route', 'le'] },
        ],
      },
    }));
    url = await service.start();
  });

  after(async () => {
    await service?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Records a few instruments as `service` and exports them once through `exporter`. */
  async function exportOnce(service: string, exporter: PushMetricExporter): Promise<void> {
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': service, 'host.name': 'web-7' }), readers: [reader] });
    const meter = provider.getMeter('shop');
    meter.createCounter('orders.placed').add(5, { route: '/orders', user: 'alice' });
    meter.createGauge('queue.depth').record(7, { route: '/orders' });
    const h = meter.createHistogram('http.server.duration', { advice: { explicitBucketBoundaries: [10, 100] } });
    for (const v of [3, 40, 60, 500]) h.record(v, { route: '/orders' });
    meter.createCounter('unmapped.thing').add(1);
    await reader.forceFlush();
    await provider.shutdown();
  }

  const metricRows = (target: string) => new Map(service.engine.openRows(target).filter((r) => r.dim === 'metric').map((r) => [r.key, r]));

  test('the protobuf exporter: each instrument lands under the service\'s target with the kept attributes', async () => {
    await exportOnce('checkout', new ProtoExporter({ url: `${url}/v1/metrics`, headers: { authorization: `Bearer ${TOKEN}` } }));
    const rows = metricRows('checkout');
    assert.deepEqual([...rows.keys()].sort(), [
      'http_server_duration_bucket{le="+Inf",route="/orders"}',
      'http_server_duration_bucket{le="10",route="/orders"}',
      'http_server_duration_bucket{le="100",route="/orders"}',
      'http_server_duration_count{route="/orders"}',
      'http_server_duration_sum{route="/orders"}',
      'orders_placed{route="/orders"}',
      'queue_depth{route="/orders"}',
    ]);
    assert.equal(rows.get('orders_placed{route="/orders"}')!.last, 5);
    assert.equal(rows.get('queue_depth{route="/orders"}')!.last, 7);
    assert.deepEqual(['10', '100', '+Inf'].map((le) => rows.get(`http_server_duration_bucket{le="${le}",route="/orders"}`)!.last), [1, 3, 4], 'cumulative buckets');
    assert.equal(rows.get('http_server_duration_sum{route="/orders"}')!.last, 603);
    assert.equal(rows.get('http_server_duration_count{route="/orders"}')!.last, 4);
  });

  test('the JSON exporter maps the same way', async () => {
    await exportOnce('payments', new JsonExporter({ url: `${url}/v1/metrics`, headers: { authorization: `Bearer ${TOKEN}` } }));
    const rows = metricRows('payments');
    assert.equal(rows.size, 7);
    assert.equal(rows.get('orders_placed{route="/orders"}')!.last, 5);
    assert.equal(rows.get('http_server_duration_sum{route="/orders"}')!.last, 603);
  });

  test('partial success, total rejection, a body that is not OTLP, and the token', async () => {
    const now = String(BigInt(Date.now()) * 1_000_000n);
    const gauge = (service: string, value: number, timeUnixNano = now) => ({
      resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
      scopeMetrics: [{ metrics: [{ name: 'queue.depth', gauge: { dataPoints: [{ timeUnixNano, asDouble: value, attributes: [] }] } }] }],
    });
    const post = (body: unknown, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }) => fetch(`${url}/v1/metrics`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    const partial = await post({ resourceMetrics: [gauge('checkout', 9), gauge('checkout', 1, '1000')] });
    assert.equal(partial.status, 200);
    const body = (await partial.json()) as { partialSuccess: { rejectedDataPoints: string; errorMessage: string } };
    assert.equal(body.partialSuccess.rejectedDataPoints, '1');
    assert.match(body.partialSuccess.errorMessage, /queue_depth\{service_name="checkout"\}: \/at falls in a window that has closed already/);
    const none = await post({ resourceMetrics: [gauge('checkout', 1, '1000')] });
    assert.equal(none.status, 400);
    assert.equal(((await none.json()) as { code: string }).code, 'SHADOWPLANE_ERR_VALIDATION');
    const junk = await fetch(`${url}/v1/metrics`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf', authorization: `Bearer ${TOKEN}` }, body: Buffer.from([0x0a, 0xff, 0xff]) });
    assert.equal(junk.status, 400);
    assert.match(((await junk.json()) as { problems: { message: string }[] }).problems[0].message, /must be a protobuf ExportMetricsServiceRequest/);
    assert.equal((await post({ resourceMetrics: [gauge('checkout', 9)] }, {})).status, 401);
    // gzip, as the OpenTelemetry Collector sends by default; what it inflates to is held to server.bodyLimit
    const gz = (body: unknown) => fetch(`${url}/v1/metrics`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', authorization: `Bearer ${TOKEN}` }, body: gzipSync(JSON.stringify(body)) });
    const zipped = await gz({ resourceMetrics: [gauge('checkout', 11)] });
    assert.equal(zipped.status, 200, await zipped.clone().text());
    assert.deepEqual(await zipped.json(), {});
    assert.equal(metricRows('checkout').get('queue_depth')!.last, 11);
    const bomb = await gz({ resourceMetrics: [gauge('checkout', 1)], pad: 'x'.repeat(2 * 1024 * 1024) });
    assert.equal(bomb.status, 413);
  });
});
