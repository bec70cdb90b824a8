/**
 * Prometheus remote-write in: a real Prometheus scrapes a real exporter page (its own /metrics) and
 * remote-writes to `POST /api/v1/write`; the series the rules select land in the Shadow Store under
 * their target with the labels kept, the rest are left out. The receiver's own rules — validation
 * named per series, 400 when every sample is rejected, late samples, 413 on the compressed and the
 * decompressed size, 429 on the shared budget, off unless configured, rule checks at config load —
 * are driven with bodies encoded the way Prometheus encodes them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { validateConfig } from '../../src/config.js';
import { isCoded } from '../../src/core/errors.js';
import { encodeWriteRequest } from '../../src/ingest/remote-write.js';
import type { PushedPoints } from '../../src/ingest/series-rules.js';
import { ShadowplaneService } from '../../src/service.js';
import { peerSkipReason, PROMETHEUS_BIN, startPrometheus, type Peer } from '../helpers/peers.js';
import { waitFor } from '../helpers/wait.js';
import { testService, T0 } from '../helpers/service.js';

const TOKEN = 'remote-write-token-0123456789';

describe('a real Prometheus remote-writes to the service', { skip: peerSkipReason(PROMETHEUS_BIN) }, () => {
  let dir: string;
  let service: ShadowplaneService;
  let address: string;
  let prometheus: Peer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sp-rw-'));
    service = await ShadowplaneService.create(validateConfig({
      server: { port: 0, token: TOKEN },
      store: { dataDir: dir },
      targets: [{ name: 'prom', kind: 'service' }],
      ingest: {
        remoteWrite: { enabled: true },
        seriesRules: [
          { match: { __name__: 'up|go_goroutines|prometheus_tsdb_head_series' }, target: 'prom' },
          { match: { __name__: 'prometheus_http_requests_total', handler: '/metrics' }, targetLabel: 'job', labels: ['handler', 'code'] },
        ],
      },
    }));
    address = await service.start();
    prometheus = await startPrometheus([
      'global: { scrape_interval: 1s }',
      'scrape_configs:',
      '  - job_name: prom',
      '    static_configs: [{ targets: ["{{self}}"] }]',
      'remote_write:',
      `  - url: ${address}/api/v1/write`,
      `    authorization: { credentials: ${TOKEN} }`,
      '    queue_config: { batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s }',
    ].join('\n'));
  });

  after(async () => {
    await prometheus?.stop();
    await service?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('the selected series land under their target, the rest are left out', async () => {
    const keys = () => new Map(service.engine.openRows('prom').filter((r) => r.dim === 'metric').map((r) => [r.key, r]));
    const seen = await waitFor('remote-written series in the open windows', async () => {
      const k = keys();
      return k.has('up') && k.has('go_goroutines') && k.has('prometheus_tsdb_head_series') && [...k.keys()].some((x) => x.startsWith('prometheus_http_requests_total{')) ? k : undefined;
    });
    assert.equal(seen.get('up')!.max, 1, 'Prometheus scraped itself successfully');
    assert.ok(seen.get('go_goroutines')!.min > 0);
    const requests = [...seen.keys()].filter((k) => k.startsWith('prometheus_http_requests_total'));
    assert.deepEqual(requests, ['prometheus_http_requests_total{code="200",handler="/metrics"}'], 'only the kept labels, only the matched handler');
    for (const k of seen.keys()) assert.ok(/^(up|go_goroutines|prometheus_tsdb_head_series|prometheus_http_requests_total\{.*\})$/.test(k), `${k} matched no rule`);
    // accepted samples are counted like any others
    const metrics = await (await fetch(`${address}/metrics`)).text();
    assert.ok(Number(/^shadowplane_ingest_accepted_total\{kind="sample"\} (\d+)/m.exec(metrics)?.[1]) > 0);
  });
});

describe('the remote-write receiver', () => {
  type Env = Awaited<ReturnType<typeof testService>>;
  let env: Env;
  const MIN = 60_000;
  const rules = [
    { match: { job: 'node' }, targetLabel: 'instance', labels: ['mode'] },
    { match: { __name__: 'pg_.*' }, target: 'orders-db' },
  ];
  const write = (series: PushedPoints[], headers: Record<string, string> = {}) => env.service.api.inject({
    method: 'POST', url: '/api/v1/write', payload: encodeWriteRequest(series),
    headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy', 'x-prometheus-remote-write-version': '0.1.0', ...headers },
  });

  before(async () => {
    env = await testService({ server: { maxEventsPerSecond: 50, bodyLimit: 4096 }, ingest: { remoteWrite: { enabled: true }, seriesRules: rules }, targets: [{ name: 'orders-db', kind: 'database' }, { name: 'node-1', kind: 'service' }] });
  });
  after(() => env.cleanup());

  test('maps by rule, keeps only the chosen labels, skips stale markers and unmatched series, names each rejection', async () => {
    const at = T0;
    const res = await write([
      { metric: 'node_cpu_seconds_total', labels: { job: 'node', instance: 'node-1', mode: 'idle', cpu: '0' }, samples: [{ at, value: 10 }, { at: at + 1000, value: Number.NaN }] },
      { metric: 'pg_up', labels: { job: 'pg', instance: 'db:9187' }, samples: [{ at, value: 1 }] },
      { metric: 'other', labels: { job: 'web' }, samples: [{ at, value: 3 }] },
      { metric: 'node_load1', labels: { job: 'node', instance: 'Bad Name' }, samples: [{ at, value: 0.5 }] },
      { metric: 'node_load1', labels: { job: 'node', instance: 'node-2' }, samples: [{ at, value: 0.5 }] },
      { metric: 'node_load5', labels: { job: 'node' }, samples: [{ at, value: 0.5 }] },
      { metric: 'pg_stat_old', labels: {}, samples: [{ at: at - 10 * MIN, value: 1 }] },
    ]);
    assert.equal(res.statusCode, 200, res.body);
    const body = JSON.parse(res.body);
    assert.equal(body.accepted, 2);
    assert.equal(body.unmatched, 1);
    assert.equal(body.stale, 1);
    assert.deepEqual(body.rejected.map((r: { series: string; reason: string; problems: { path: string }[] }) => [r.series, r.reason, r.problems[0].path]), [
      ['node_load1{instance="Bad Name",job="node"}', 'invalid', '/target'],
      ['node_load1{instance="node-2",job="node"}', 'unknown_target', '/target'],
      ['node_load5{job="node"}', 'invalid', '/target'],
      ['pg_stat_old', 'late', '/at'],
    ]);
    const keys = (t: string) => env.service.engine.openRows(t).filter((r) => r.dim === 'metric').map((r) => r.key);
    assert.deepEqual(keys('node-1'), ['node_cpu_seconds_total{mode="idle"}']);
    assert.deepEqual(keys('orders-db'), ['pg_up']);
  });

  test('every sample rejected is a 400 naming them; a body that is not a WriteRequest is a 400', async () => {
    const res = await write([{ metric: 'node_load1', labels: { job: 'node', instance: 'nobody' }, samples: [{ at: T0, value: 1 }] }]);
    assert.equal(res.statusCode, 400);
    assert.equal(JSON.parse(res.body).code, 'SHADOWPLANE_ERR_VALIDATION');
    assert.equal(JSON.parse(res.body).rejected[0].reason, 'unknown_target');
    const junk = await env.service.api.inject({ method: 'POST', url: '/api/v1/write', payload: Buffer.from('not snappy at all'), headers: { 'content-type': 'application/x-protobuf' } });
    assert.equal(junk.statusCode, 400);
    assert.match(JSON.parse(junk.body).problems[0].message, /snappy|WriteRequest/);
  });

  test('413 on the body and on what it decompresses to; 429 with Retry-After over the shared budget', async () => {
    const big = await env.service.api.inject({ method: 'POST', url: '/api/v1/write', payload: Buffer.alloc(8192, 1), headers: { 'content-type': 'application/x-protobuf' } });
    assert.equal(big.statusCode, 413);
    // a long label value compresses well: a small body, a large WriteRequest
    const bomb = [{ metric: 'pg_up', labels: { pad: 'x'.repeat(8000) }, samples: [{ at: T0, value: 1 }] }];
    assert.ok(encodeWriteRequest(bomb).length < 4096);
    const res = await write(bomb);
    assert.equal(res.statusCode, 413);
    assert.equal(JSON.parse(res.body).code, 'SHADOWPLANE_ERR_PAYLOAD_TOO_LARGE');
    env.clock.advance(1000);
    const many = Array.from({ length: 60 }, (_, i) => ({ metric: 'pg_up', labels: { i: String(i) }, samples: [{ at: env.clock.now(), value: 1 }] }));
    assert.equal((await write(many.slice(0, 40))).statusCode, 200);
    const limited = await write(many.slice(40));
    assert.equal(limited.statusCode, 429);
    assert.ok(Number(limited.headers['retry-after']) >= 1);
  });

  test('off unless configured; rules are checked at config load', async () => {
    const off = await testService({});
    try {
      assert.equal((await off.service.api.inject({ method: 'POST', url: '/api/v1/write', payload: encodeWriteRequest([]), headers: { 'content-type': 'application/x-protobuf' } })).statusCode, 404);
    } finally {
      await off.cleanup();
    }
    assert.throws(() => validateConfig({ ingest: { seriesRules: [{ match: { job: '(' }, target: 'a', targetLabel: 'job' }] } }), (err: unknown) => {
      assert.ok(isCoded(err, 'SHADOWPLANE_ERR_CONFIG_INVALID'));
      assert.deepEqual([...err.problems].map((p) => p.path), ['/ingest/seriesRules/0', '/ingest/seriesRules/0/match/job']);
      return true;
    });
  });
});
