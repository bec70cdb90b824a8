/**
 * The shadow registry through the API against real components (test/api/shadow-components.ts):
 * status read from each admin API, actions relayed with the registered token and audited with who
 * and why, errors of the component passed on with their code, unreachable components shown as
 * such, registrations persisted, and bad input naming the field and the rule. Needs PostgreSQL on
 * 127.0.0.1:5432 only for the SQL interceptor's query (skipped without it, failing under CI=true).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { ShadowplaneService } from '../../src/service.js';
import { postgresAvailable } from '../shadows/sql/helpers.js';
import { refusedOrigin } from '../shadows/traffic/helpers.js';
import { testService } from '../helpers/service.js';
import { PROXY_TOKEN, startComponents, type Components } from './shadow-components.js';

const TOKEN = 'service-api-token-0123456';
const auth = { authorization: `Bearer ${TOKEN}` };
type Problem = { code: string; detail: string; problems?: { path: string; message: string }[] };

describe('shadow components through the API', () => {
  let c: Components;
  let env: Awaited<ReturnType<typeof testService>>;
  let refused: string;
  /** One request; a change first moves the virtual clock on, so audit entries are ordered by time. */
  const inject = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown, headers: Record<string, string> = auth) => {
    if (method !== 'GET') env.clock.advance(1000);
    return env.service.api.inject({ method, url, payload: payload as never, headers: method === 'GET' ? {} : headers });
  };
  const problemsOf = (body: Problem) => Object.fromEntries((body.problems ?? []).map((p) => [p.path, p.message]));

  before(async () => {
    c = await startComponents();
    refused = await refusedOrigin();
    env = await testService({
      server: { host: '127.0.0.1', port: 0, token: TOKEN },
      shadows: [
        { name: 'orders-proxy', kind: 'traffic', url: c.trafficAdmin, token: PROXY_TOKEN, target: 'orders-db' },
        { name: 'events', kind: 'partitions', url: c.streamAdmin },
        { name: 'disks', kind: 'volumes', url: c.volumeAdmin },
        { name: 'gone', kind: 'volumes', url: refused },
      ],
    });
    for (const s of env.service.shadows.list()) await env.service.shadows.poll(s.name);
  });
  after(async () => {
    await env?.cleanup();
    await c?.close();
  });

  test('the list shows each component with its kind, status and reachability, never a token', async () => {
    const res = await inject('GET', '/v1/shadows');
    assert.equal(res.statusCode, 200);
    const list = res.json().shadows as { name: string; kind: string; reachable: boolean; source: string; hasToken: boolean; error: string | null }[];
    assert.deepEqual(list.map((s) => [s.name, s.kind, s.reachable, s.source]), [['disks', 'volumes', true, 'config'], ['events', 'partitions', true, 'config'], ['gone', 'volumes', false, 'config'], ['orders-proxy', 'traffic', true, 'config']]);
    assert.equal(list.find((s) => s.name === 'orders-proxy')!.hasToken, true);
    assert.ok(!res.body.includes(PROXY_TOKEN), 'the token is never shown');
    assert.match(list.find((s) => s.name === 'gone')!.error!, /cannot be reached .*ECONNREFUSED/);
  });

  test('traffic proxy: mirroring figures and mismatches; a migration promoted with the registered token and audited', async () => {
    await c.traffic(5);
    const migration = await c.startMigration();
    const view = (await env.service.shadows.poll('orders-proxy')).status as { routes: { name: string; mirror: Record<string, number>; comparison: { compared: number; mismatches: number; kinds: Record<string, number>; examples: { path: string }[] }; migration: { id: string; status: string; stepIndex: number; steps: number[] } }[] };
    const route = view.routes[0];
    assert.equal(route.name, 'orders');
    assert.ok(route.mirror.sent >= 5, JSON.stringify(route.mirror));
    assert.ok(route.comparison.mismatches >= 5 && route.comparison.compared >= 5, JSON.stringify(route.comparison));
    assert.equal(route.comparison.kinds.value, route.comparison.mismatches);
    assert.equal(route.comparison.examples[0].path, '/status');
    assert.deepEqual([route.migration.id, route.migration.status, route.migration.stepIndex, route.migration.steps], [migration, 'running', 0, [0.1, 0.5, 1]]);

    const res = await inject('POST', '/v1/shadows/orders-proxy/routes/orders/migration/promote', { why: 'the shadow looks healthy', actor: 'alice' });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().result.stepIndex, 1);
    assert.equal(c.proxy.route('orders')!.migration!.stepIndex, 1, 'the real proxy moved');
    assert.equal(c.proxy.route('orders')!.weight, 0.5);
    assert.equal(res.json().shadow.status.routes[0].migration.stepIndex, 1, 'the answer carries the status read again');
    const audit = (await inject('GET', '/v1/shadows/orders-proxy/audit')).json().audit;
    assert.deepEqual([audit[0].action, audit[0].actor, audit[0].why, audit[0].detail.outcome, audit[0].detail.route], ['migration-promote', 'alice', 'the shadow looks healthy', 'done', 'orders']);

    // abort, then a further command is the proxy's own MIGRATION_STATE error, passed on and audited.
    assert.equal((await inject('POST', '/v1/shadows/orders-proxy/routes/orders/migration/abort', { why: 'back to the primary' })).json().result.status, 'aborted');
    const late = await inject('POST', '/v1/shadows/orders-proxy/routes/orders/migration/promote', { why: 'too late' });
    assert.equal(late.statusCode, 409);
    assert.equal(late.json().code, 'SHADOWPLANE_ERR_MIGRATION_STATE');
    assert.match(late.json().detail, /^shadow "orders-proxy" answered HTTP 409: cannot promote/);
    const failed = (await inject('GET', '/v1/shadows/orders-proxy/audit?limit=1')).json().audit[0];
    assert.deepEqual([failed.action, failed.actor, failed.detail.outcome, failed.detail.code], ['migration-promote', 'token', 'failed', 'SHADOWPLANE_ERR_MIGRATION_STATE']);
  });

  test('traffic proxy: a migration started through the service with the reason as its reason, the steps given, audited', async () => {
    const res = await inject('POST', '/v1/shadows/orders-proxy/routes/orders/migrations', { why: 'the primary disk is failing', steps: [0.2, 1], actor: 'bob' });
    assert.equal(res.statusCode, 201, res.body);
    const m = c.proxy.route('orders')!.migration!;
    assert.deepEqual([m.status, m.weight, res.json().result.id], ['running', 0.2, m.id], 'the real proxy runs it');
    assert.deepEqual([res.json().result.reason, res.json().result.steps], ['the primary disk is failing', [0.2, 1]]);
    assert.equal(res.json().shadow.status.routes[0].migration.id, m.id);
    const audit = (await inject('GET', '/v1/shadows/orders-proxy/audit?limit=1')).json().audit[0];
    assert.deepEqual([audit.action, audit.actor, audit.why, audit.detail.route, audit.detail.steps, audit.detail.outcome], ['migration-start', 'bob', 'the primary disk is failing', 'orders', [0.2, 1], 'done']);

    const twice = await inject('POST', '/v1/shadows/orders-proxy/routes/orders/migrations', { why: 'again' });
    assert.equal(twice.statusCode, 409);
    assert.equal(twice.json().code, 'SHADOWPLANE_ERR_MIGRATION_STATE');
    assert.match(twice.json().detail, /has an active migration/);
    assert.equal((await inject('POST', '/v1/shadows/orders-proxy/routes/nope/migrations', { why: 'x' })).json().code, 'SHADOWPLANE_ERR_NOT_FOUND');

    const bad = await inject('POST', '/v1/shadows/orders-proxy/routes/orders/migrations', { steps: [0, 1.5], why: '' });
    assert.equal(bad.statusCode, 400);
    assert.deepEqual(problemsOf(bad.json()), {
      '/body/steps/0': 'must be a share of live traffic above 0 and at most 1',
      '/body/steps/1': 'must be a share of live traffic above 0 and at most 1',
      '/body/why': 'must say why (1 to 1024 characters)',
    });
    assert.deepEqual(problemsOf((await inject('POST', '/v1/shadows/orders-proxy/routes/orders/migrations', { steps: [], why: 'x' })).json()), { '/body/steps': 'must list 1 to 20 shares of live traffic' });
    assert.equal((await inject('POST', '/v1/shadows/events/routes/orders/migrations', { why: 'x' })).json().code, 'SHADOWPLANE_ERR_SHADOW_KIND');
    assert.equal((await inject('POST', '/v1/shadows/orders-proxy/routes/orders/migration/abort', { why: 'test over' })).statusCode, 200);
  });

  test('stream service: partitions with workers and standbys; pin, forbid and move relayed', async () => {
    const status = (await env.service.shadows.poll('events')).status as { partitions: { partition: number; worker: number }[]; workers: { worker: number; owns: number[] }[]; routing: { owners: number[] } };
    assert.equal(status.partitions.length, 2);
    assert.deepEqual(status.routing.owners, c.stream.table.owners);
    assert.deepEqual(status.workers.flatMap((w) => w.owns).sort(), [0, 1]);

    const pin = await inject('POST', '/v1/shadows/events/partitions/0/pin', { pinned: true, why: 'keep it during the audit' });
    assert.equal(pin.statusCode, 200, pin.body);
    assert.equal(c.stream.partitions()[0].pinned, true);
    const pinned = await inject('POST', '/v1/shadows/events/partitions/0/move', { worker: 1 - c.stream.table.owners[0], why: 'rebalance' });
    assert.equal(pinned.statusCode, 409);
    assert.equal(pinned.json().code, 'SHADOWPLANE_ERR_STREAM_STATE');
    await inject('POST', '/v1/shadows/events/partitions/0/pin', { pinned: false, why: 'audit over' });

    const other = 1 - c.stream.table.owners[1];
    const move = await inject('POST', '/v1/shadows/events/partitions/1/move', { worker: other, why: 'worker 0 is hot' });
    assert.equal(move.statusCode, 200, move.body);
    assert.equal(c.stream.table.owners[1], other);
    assert.equal(move.json().shadow.status.partitions[1].standby.role, 'former', 'the former primary stays as a standby');

    const forbid = await inject('POST', '/v1/shadows/events/partitions/1/forbid', { worker: 1 - other, forbidden: true, why: 'bad disk' });
    assert.equal(forbid.statusCode, 200, forbid.body);
    assert.deepEqual(c.stream.partitions()[1].forbidden, [1 - other]);
    const allow = await inject('POST', '/v1/shadows/events/partitions/1/forbid', { worker: 1 - other, forbidden: false, why: 'disk replaced' });
    assert.equal(allow.statusCode, 200, allow.body);
    assert.deepEqual(c.stream.partitions()[1].forbidden, []);
    assert.deepEqual(problemsOf((await inject('POST', '/v1/shadows/events/partitions/1/forbid', { worker: 'two', why: 'x' })).json()), { '/body/worker': 'must be a worker number (an integer >= 0)', '/body/forbidden': 'is required' });
  });

  test('volume service: tiers, heat and placement; fail-over with the reason, fail-back', async () => {
    for (let i = 0; i < 20; i++) await c.volume.read(4096 * (i % 3), 4096);
    const status = (await env.service.shadows.poll('disks')).status as { volumes: { name: string; tiers: { name: string }[]; hottest: { block: number; reads: number }[]; state: string }[] };
    assert.equal(status.volumes[0].name, 'vol1');
    assert.deepEqual(status.volumes[0].tiers.map((t) => t.name), ['live', 'shadow-hdd', 'nvme']);
    assert.ok(status.volumes[0].hottest[0].reads >= 6, JSON.stringify(status.volumes[0].hottest));
    const over = await inject('POST', '/v1/shadows/disks/volumes/vol1/failover', { why: 'latency spikes on the live device' });
    assert.equal(over.statusCode, 200, over.body);
    assert.deepEqual([over.json().result.state, over.json().result.failoverReason], ['failed-over', 'latency spikes on the live device']);
    const back = await inject('POST', '/v1/shadows/disks/volumes/vol1/failback', { why: 'device replaced' });
    assert.equal(back.json().result.state, 'live');
    assert.equal((await inject('POST', '/v1/shadows/disks/volumes/nope/failover', { why: 'x' })).json().code, 'SHADOWPLANE_ERR_NOT_FOUND');
  });

  test('SQL interceptor: its counters and rates', async () => {
    if (await postgresAvailable()) {
      const client = new pg.Client({ host: '127.0.0.1', port: c.pgProxyPort, user: 'postgres', database: 'postgres' });
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
    }
    const res = await inject('POST', '/v1/shadows', { name: 'orders-sql', kind: 'sql', url: c.sqlAdmin, target: 'orders-db' });
    assert.equal(res.statusCode, 201, res.body);
    assert.equal(res.headers.location, '/v1/shadows/orders-sql');
    const body = res.json();
    assert.deepEqual([body.reachable, body.source, body.interval, body.status.rates.sampleRate], [true, 'api', '5s', 1]);
    assert.equal(body.status.proxy.queries, c.pgProxy.stats.queries);
    const wrongKind = await inject('POST', '/v1/shadows/orders-sql/volumes/vol1/failover', { why: 'x' });
    assert.equal(wrongKind.statusCode, 409);
    assert.equal(wrongKind.json().code, 'SHADOWPLANE_ERR_SHADOW_KIND');
  });

  test('SQL interceptor: its rates changed through the service, audited; bad input and a refusal of the component name the field', async () => {
    const res = await inject('PUT', '/v1/shadows/orders-sql/rates', { sampleRate: 0.25, readRate: 0.5, why: 'cheaper telemetry, more shadow reads' });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json().result, { sampleRate: 0.25, writeRate: 0.01, readRate: 0.5 });
    assert.deepEqual([c.pgProxy.getSampleRate(), c.sqlMirror.rates()], [0.25, { writeRate: 0.01, readRate: 0.5 }], 'the real interceptor changed');
    assert.deepEqual(res.json().shadow.status.rates, { sampleRate: 0.25, writeRate: 0.01, readRate: 0.5 });
    const audit = (await inject('GET', '/v1/shadows/orders-sql/audit?limit=1')).json().audit[0];
    assert.deepEqual([audit.action, audit.why, audit.detail], ['rates', 'cheaper telemetry, more shadow reads', { sampleRate: 0.25, readRate: 0.5, outcome: 'done' }]);

    const bad = await inject('PUT', '/v1/shadows/orders-sql/rates', { sampleRate: 1.5, writeRate: 'all', why: 'x' });
    assert.equal(bad.statusCode, 400);
    assert.deepEqual(problemsOf(bad.json()), { '/body/sampleRate': 'must be a number between 0 and 1', '/body/writeRate': 'must be a number between 0 and 1' });
    const none = await inject('PUT', '/v1/shadows/orders-sql/rates', { why: 'x' });
    assert.deepEqual([none.statusCode, problemsOf(none.json())], [400, { '/body': 'must set at least one of sampleRate, writeRate, readRate' }]);
    assert.equal((await inject('PUT', '/v1/shadows/orders-sql/rates', { sampleRate: 1, why: 'x' }, {})).statusCode, 401, 'the service token is needed');
    assert.equal((await inject('PUT', '/v1/shadows/events/rates', { sampleRate: 1, why: 'x' })).json().code, 'SHADOWPLANE_ERR_SHADOW_KIND');

    // An interceptor that feeds no shadow refuses shadow rates: its answer, field and rule, passed on.
    await inject('POST', '/v1/shadows', { name: 'sql-no-shadow', kind: 'sql', url: c.sqlAdminNoShadow });
    const refused = await inject('PUT', '/v1/shadows/sql-no-shadow/rates', { writeRate: 0.1, why: 'feed the shadow' });
    assert.equal(refused.statusCode, 400);
    assert.equal(refused.json().code, 'SHADOWPLANE_ERR_VALIDATION');
    assert.deepEqual(problemsOf(refused.json()), { '/body/writeRate': 'needs a shadow (--shadow)' });
    assert.equal((await inject('GET', '/v1/shadows/sql-no-shadow/audit?limit=1')).json().audit[0].detail.outcome, 'failed');
    assert.equal((await inject('PUT', '/v1/shadows/orders-sql/rates', { sampleRate: 1, why: 'back to full sampling' })).statusCode, 200);
    assert.equal((await inject('DELETE', '/v1/shadows/sql-no-shadow', { why: 'test over' })).statusCode, 204);
  });

  test('an unreachable component: its status says so, an action is 502 and is audited', async () => {
    const view = (await inject('GET', '/v1/shadows/gone')).json();
    assert.deepEqual([view.reachable, view.status, view.seenAt], [false, null, null]);
    const res = await inject('POST', '/v1/shadows/gone/volumes/vol1/failover', { why: 'try anyway' });
    assert.equal(res.statusCode, 502);
    assert.equal(res.json().code, 'SHADOWPLANE_ERR_SHADOW_UNREACHABLE');
    assert.equal((await inject('GET', '/v1/shadows/gone/audit')).json().audit[0].detail.outcome, 'failed');
  });

  test('a wrong token for the component is SHADOW_REFUSED, not the caller\'s 401', async () => {
    await inject('POST', '/v1/shadows', { name: 'proxy-bad-token', kind: 'traffic', url: c.trafficAdmin, token: 'wrong' });
    const res = await inject('POST', '/v1/shadows/proxy-bad-token/routes/orders/migration/promote', { why: 'x' });
    assert.equal(res.statusCode, 502);
    assert.equal(res.json().code, 'SHADOWPLANE_ERR_SHADOW_REFUSED');
    assert.match(res.json().detail, /check the token/);
  });

  test('bad input names the field and the rule; unknown names, duplicates and config entries are refused', async () => {
    const bad = await inject('POST', '/v1/shadows', { name: 'Bad Name', kind: 'kafka', url: 'ftp://x/y', interval: 'soon', extra: 1 });
    assert.equal(bad.statusCode, 400);
    const p = problemsOf(bad.json());
    assert.match(p['/body/name'], /lower-case/);
    assert.equal(p['/body/kind'], 'must be one of: traffic, partitions, volumes, sql');
    assert.match(p['/body/url'], /base URL/);
    assert.match(p['/body/interval'], /duration/);
    assert.equal(p['/body/extra'], 'is not a known key');
    const noWhy = await inject('POST', '/v1/shadows/events/partitions/0/pin', { pinned: 'yes' });
    assert.deepEqual(problemsOf(noWhy.json()), { '/body/pinned': 'must be boolean', '/body/why': 'is required' });
    const badParams = await inject('POST', '/v1/shadows/orders-proxy/routes/orders/migration/launch', { why: 'x' });
    assert.equal(problemsOf(badParams.json())['/params/command'], 'must be one of: promote, pause, resume, abort, rollback');
    assert.equal(problemsOf((await inject('POST', '/v1/shadows/events/partitions/-1/move', { worker: 0, why: 'x' })).json())['/params/partition'], 'must be a partition number (an integer >= 0)');
    assert.equal((await inject('POST', '/v1/shadows/events/partitions/0/pin', { pinned: true, why: 'x' }, {})).statusCode, 401, 'the service token is needed');
    assert.equal((await inject('GET', '/v1/shadows/nope')).json().code, 'SHADOWPLANE_ERR_SHADOW_NOT_FOUND');
    assert.equal((await inject('POST', '/v1/shadows', { name: 'events', kind: 'partitions', url: c.streamAdmin })).json().code, 'SHADOWPLANE_ERR_SHADOW_EXISTS');
    assert.equal((await inject('DELETE', '/v1/shadows/events')).json().code, 'SHADOWPLANE_ERR_SHADOW_DECLARED');
  });

  test('the routes are in the OpenAPI document', async () => {
    const paths = Object.keys((await inject('GET', '/openapi.json')).json().paths);
    for (const p of ['/v1/shadows', '/v1/shadows/{name}', '/v1/shadows/{name}/audit', '/v1/shadows/{name}/routes/{route}/migration/{command}', '/v1/shadows/{name}/partitions/{partition}/move', '/v1/shadows/{name}/volumes/{volume}/{command}', '/v1/shadows/{name}/routes/{route}/migrations', '/v1/shadows/{name}/rates', '/v1/stream']) {
      assert.ok(paths.includes(p), p);
    }
  });

  test('registrations through the API persist across a restart; removal is audited', async () => {
    const config = env.service.config;
    await env.service.stop();
    const again = await ShadowplaneService.create(config, { clock: env.clock });
    try {
      assert.deepEqual(again.shadows.list().filter((s) => s.source === 'api').map((s) => s.name), ['orders-sql', 'proxy-bad-token']);
      const del = await again.api.inject({ method: 'DELETE', url: '/v1/shadows/orders-sql', headers: auth, payload: { why: 'decommissioned' } });
      assert.equal(del.statusCode, 204);
      const audit = await again.shadows.auditTrail('proxy-bad-token', 10);
      assert.deepEqual(audit.map((a) => a.action), ['migration-promote', 'register']);
      assert.equal((await again.store.listAudit('shadow:orders-sql', 1))[0].why, 'decommissioned');
    } finally {
      await again.stop();
    }
  });
});
