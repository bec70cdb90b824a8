import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Window } from '../../src/store/window.js';
import { testService } from '../helpers/service.js';

let h: Awaited<ReturnType<typeof testService>>;
before(async () => {
  h = await testService();
});
after(() => h.cleanup());

test('targets are created, read, updated and deleted through the API, and persist in the store', async () => {
  const created = await h.service.api.inject({ method: 'POST', url: '/v1/targets', payload: { name: 'search-api', kind: 'service', labels: { team: 'search' }, sampling: { rate: 0.1 } } });
  assert.equal(created.statusCode, 201);
  assert.equal(created.headers.location, '/v1/targets/search-api');
  assert.equal(created.json().sampling.rate, 0.1);
  assert.equal((await h.service.api.inject({ method: 'POST', url: '/v1/targets', payload: { name: 'search-api', kind: 'service' } })).json().code, 'SHADOWPLANE_ERR_TARGET_EXISTS');
  const patched = await h.service.api.inject({ method: 'PATCH', url: '/v1/targets/search-api', payload: { labels: { team: 'core' }, scrape: { url: 'http://127.0.0.1:9/metrics' }, why: 'team moved' } });
  assert.equal(patched.json().labels.team, 'core');
  assert.equal(patched.json().scrape.interval, '15s');
  assert.equal((await h.service.store.getTarget('search-api'))?.labels.team, 'core');
  const list = (await h.service.api.inject({ method: 'GET', url: '/v1/targets' })).json();
  assert.deepEqual(list.targets.map((t: { name: string }) => t.name), ['orders-db', 'search-api']);
  const unchanged = await h.service.api.inject({ method: 'PATCH', url: '/v1/targets/search-api', payload: { labels: { team: 'core' } } });
  assert.equal(unchanged.statusCode, 200);
  assert.equal((await h.service.api.inject({ method: 'DELETE', url: '/v1/targets/search-api?why=retired&actor=ops' })).statusCode, 204);
  // Every change is in the audit trail, which outlives the target; a PATCH that changes nothing is not.
  const trail = (await h.service.store.listAudit('search-api', 10)).reverse();
  assert.deepEqual(trail.map((e) => [e.action, e.why]), [['create', 'no reason given'], ['update', 'team moved'], ['delete', 'retired']]);
  assert.deepEqual(trail[1].detail, {
    from: { labels: { team: 'search' }, scrape: null },
    to: { labels: { team: 'core' }, scrape: { url: 'http://127.0.0.1:9/metrics', interval: '15s' } },
  });
  assert.equal(trail[2].actor, 'ops');
  const gone = await h.service.api.inject({ method: 'GET', url: '/v1/targets/search-api' });
  assert.equal(gone.statusCode, 404);
  assert.equal(gone.json().code, 'SHADOWPLANE_ERR_TARGET_NOT_FOUND');
});

test('bad target bodies name every field and rule', async () => {
  const res = await h.service.api.inject({ method: 'POST', url: '/v1/targets', payload: { name: 'Bad Name', kind: 'db', sampling: { rate: 3 }, extra: true } });
  assert.equal(res.statusCode, 400);
  const problems = Object.fromEntries(res.json().problems.map((p: { path: string; message: string }) => [p.path, p.message]));
  assert.equal(problems['/body/extra'], 'is not a known key');
  assert.match(problems['/body/name'], /lower-case/);
  assert.equal(problems['/body/kind'], 'must be one of: database, service, stream, volume');
  assert.equal(problems['/body/sampling/rate'], 'must be a number between 0 and 1');
  const badWhy = await h.service.api.inject({ method: 'DELETE', url: '/v1/targets/orders-db?why=' });
  assert.equal(badWhy.statusCode, 400);
  assert.equal(badWhy.json().problems[0].path, '/querystring/why');
});

test('bad query parameters get a 400 naming the parameter', async () => {
  const res = await h.service.api.inject({ method: 'GET', url: '/v1/targets/orders-db/series?metric=median&from=soon' });
  assert.equal(res.statusCode, 400);
  assert.ok(res.json().problems.some((p: { path: string }) => p.path === '/querystring/metric'));
  const from = await h.service.api.inject({ method: 'GET', url: '/v1/targets/orders-db/series?from=soon' });
  assert.deepEqual(from.json().problems, [{ path: '/querystring/from', message: 'must be ms since the epoch, an ISO-8601 date-time, now, or now-<duration>' }]);
  const tooMany = await h.service.api.inject({ method: 'GET', url: '/v1/targets/orders-db/series?from=0&step=1m' });
  assert.equal(tooMany.json().problems[0].path, '/step');
});

test('a series reaching back past the finest retention is read at the finest granularity still covering it', async () => {
  const start = Math.floor((h.service.clock.now() - 4 * 86_400_000) / 300_000) * 300_000;
  const row = (granularity: number) => {
    const w = new Window(start, granularity);
    w.addSample(start + 1000, 7);
    return w.toRow('orders-db', 'metric', 'lag', true);
  };
  await h.service.store.writeWindows([row(60), row(300)]);
  const week = (await h.service.api.inject({ method: 'GET', url: '/v1/targets/orders-db/series?dim=metric&key=lag&metric=mean&from=now-5d&step=1m' })).json();
  assert.deepEqual([week.granularity, week.step, week.points.map((p: { t: number }) => p.t)], [300, 300_000, [start]]);
  const day = (await h.service.api.inject({ method: 'GET', url: '/v1/targets/orders-db/series?dim=metric&key=lag&metric=mean&from=now-1d&step=1m' })).json();
  assert.deepEqual([day.granularity, day.step], [60, 60_000]);
});

test('health, readiness, metrics and the OpenAPI document are served', async () => {
  assert.equal((await h.service.api.inject({ method: 'GET', url: '/healthz' })).json().status, 'ok');
  assert.equal((await h.service.api.inject({ method: 'GET', url: '/readyz' })).json().backend, 'sqlite');
  const metrics = (await h.service.api.inject({ method: 'GET', url: '/metrics' })).body;
  for (const name of ['shadowplane_ingest_accepted_total', 'shadowplane_ingest_rejected_total', 'shadowplane_flush_duration_seconds', 'shadowplane_series', 'shadowplane_store_size_bytes']) {
    assert.ok(metrics.includes(name), name);
  }
  const openapi = (await h.service.api.inject({ method: 'GET', url: '/openapi.json' })).json();
  assert.equal(openapi.openapi, '3.0.3');
  for (const path of ['/v1/events', '/v1/samples', '/v1/targets', '/v1/targets/{name}/series', '/v1/targets/{name}/top', '/v1/targets/{name}/sampling']) assert.ok(openapi.paths[path], path);
  assert.ok(openapi.components.schemas.RequestEvent);
  const missing = await h.service.api.inject({ method: 'GET', url: '/v1/nothing' });
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json().code, 'SHADOWPLANE_ERR_NOT_FOUND');
});

test('a scraped Prometheus endpoint becomes metric series, with up and scrape duration', async () => {
  const { createServer } = await import('node:http');
  const server = createServer((_req, res) => res.end('# TYPE conns gauge\nconns{db="orders"} 42\n# TYPE lat histogram\nlat_bucket{le="1"} 3\nlat_bucket{le="+Inf"} 4\nlat_sum 2.5\nlat_count 4\n'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  try {
    await h.service.targets.create('pg-exporter', { kind: 'database', scrape: { url: `http://127.0.0.1:${port}/metrics`, interval: '15s' } });
    await h.service.scraper.scrapeOnce('pg-exporter');
    const live = (await h.service.api.inject({ method: 'GET', url: '/v1/targets/pg-exporter/live' })).json();
    const keys = live.windows[0].top.metric.map((m: { key: string }) => m.key);
    for (const k of ['conns{db="orders"}', 'lat_bucket{le="+Inf"}', 'lat_count', 'up', 'scrape_duration_seconds']) assert.ok(keys.includes(k), k);
    await h.service.targets.update('pg-exporter', { scrape: { url: 'http://127.0.0.1:1/metrics', interval: '15s' } });
    await h.service.scraper.scrapeOnce('pg-exporter');
    const status = (await h.service.api.inject({ method: 'GET', url: '/v1/targets/pg-exporter' })).json().scrape.status;
    assert.ok(status.lastError, 'a failed scrape is reported');
  } finally {
    server.close();
  }
});
