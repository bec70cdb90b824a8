/**
 * Per-target risk limits: the settings (`control.risk`) validated with the field and rule named,
 * and end to end on a real service (VirtualClock, SQLite): a disk metric filling toward its limit
 * and a request latency rising toward its SLO each drive their target's risk, which names the
 * limit and its forecast crossing in GET /v1/targets/{t}/risk and in the decision record; limits
 * that are not approached stay out of the drivers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { testService } from '../helpers/service.js';
import { parseControlSettings } from '../../src/control/settings.js';
import { isCoded } from '../../src/core/errors.js';

const MIN = 60_000;

/** The problems parseControlSettings reports for `risk`. */
function problems(risk: unknown): { path: string; message: string }[] {
  try {
    parseControlSettings({ risk }, '/control');
  } catch (err) {
    assert.ok(isCoded(err, 'SHADOWPLANE_ERR_VALIDATION'));
    return [...(err as { problems: readonly { path: string; message: string }[] }).problems];
  }
  return [];
}

test('risk settings: defaults, and bad limits named by field and rule', () => {
  assert.deepEqual(parseControlSettings({}).risk, { horizon: '1h', limits: [] });
  const ok = parseControlSettings({ risk: { horizon: '2h', limits: [{ metric: 'disk_used_ratio', max: 0.95 }, { metric: 'free_bytes{mount="/"}', min: 1e9 }, { requests: 'p99', max: 250 }, { requests: 'errorRate', max: 0.05 }] } });
  assert.equal(ok.risk.limits.length, 4);
  assert.deepEqual(problems({ limits: [{ max: 1 }] }), [{ path: '/control/risk/limits/0', message: 'needs exactly one of metric or requests' }]);
  assert.deepEqual(problems({ limits: [{ metric: 'cpu', requests: 'p99', max: 1 }] }), [{ path: '/control/risk/limits/0', message: 'needs exactly one of metric or requests' }]);
  assert.deepEqual(problems({ limits: [{ metric: 'cpu' }] }), [{ path: '/control/risk/limits/0', message: 'needs exactly one of max or min' }]);
  assert.deepEqual(problems({ limits: [{ metric: 'cpu', max: 0.9, min: 0.1 }] }), [{ path: '/control/risk/limits/0', message: 'needs exactly one of max or min' }]);
  assert.deepEqual(problems({ limits: [{ requests: 'errorRate', max: 5 }] }), [{ path: '/control/risk/limits/0/max', message: 'an error rate is a share of requests: must be between 0 and 1' }]);
  assert.deepEqual(problems({ limits: [{ requests: 'p99', max: 0 }] }), [{ path: '/control/risk/limits/0/max', message: 'a latency limit must be > 0 ms' }]);
  assert.deepEqual(problems({ limits: [{ metric: 'cpu', max: 0.9 }, { metric: 'cpu', max: 0.95 }] }), [{ path: '/control/risk/limits/1', message: 'repeats limit 0 (same signal and side)' }]);
  assert.deepEqual(problems({ limits: [{ metric: 'utilisation', max: 0.9 }] }).map((p) => p.path), ['/control/risk/limits/0/metric']);
  assert.deepEqual(problems({ limits: [{ requests: 'p42', max: 1 }] }), [{ path: '/control/risk/limits/0/requests', message: 'must be one of: p50, p90, p95, p99, mean, max, errorRate' }]);
  assert.deepEqual(problems({ limits: [{ metric: 'disk used', max: 1 }] }), [{ path: '/control/risk/limits/0/metric', message: 'must be a metric series key such as disk_used_ratio' }]);
  assert.deepEqual(problems({ limits: [{ metric: 'cpu', max: '0.9' }] }), [{ path: '/control/risk/limits/0/max', message: 'must be a finite number' }]);
  assert.deepEqual(problems({ limits: [{ metric: 'cpu', max: 1, above: true }] }), [{ path: '/control/risk/limits/0/above', message: 'is not a known key' }]);
  assert.deepEqual(problems({ horizon: '30s' }), [{ path: '/control/risk/horizon', message: 'must be at least one interval' }]);
  assert.deepEqual(problems({ horizon: 'soon' }), [{ path: '/control/risk/horizon', message: 'must be a duration such as 30s, 5m, 1h or 7d' }]);
});

describe('risk limits through the loop and the API', () => {
  type Env = Awaited<ReturnType<typeof testService>>;
  let env: Env;
  const BASE = { capacityPerUnit: 1000, initialUnits: 2, minWindows: 2, season: '0s', history: '10m', provisioningDelay: '2m', horizon: '10m', scaleUpLookahead: '5m' };
  const call = async (method: 'GET' | 'PUT', url: string, payload?: unknown) => {
    const res = await env.service.api.inject({ method, url, payload: payload as never });
    return { status: res.statusCode, body: JSON.parse(res.body) as Record<string, any> };
  };

  before(async () => {
    env = await testService({
      targets: [
        // demand is a metric; the disk fills toward its limit, request latency stays far from its SLO
        { name: 'db', kind: 'database', actuator: { type: 'replay', provisioningDelayMs: 2 * MIN }, control: { ...BASE, metric: 'load', risk: { limits: [{ metric: 'disk_used_ratio', max: 0.95 }, { requests: 'p99', max: 250 }] } } },
        // demand is the request rate; latency rises toward its SLO, the error rate stays at 0 under its budget
        { name: 'api', kind: 'service', actuator: { type: 'replay', provisioningDelayMs: 2 * MIN }, control: { ...BASE, risk: { horizon: '1h', limits: [{ requests: 'p99', max: 250 }, { requests: 'errorRate', max: 0.05 }] } } },
      ],
    });
    env.service.controller.start();
  });
  after(() => env.cleanup());

  test('each target\'s risk names the limit it is trending toward and when it is crossed', async () => {
    const latency = (m: number) => 40 + 3 * m; // reaches 250 ms at minute 70
    const disk = (m: number) => 0.5 + 0.005 * m; // reaches 0.95 at minute 90
    for (let m = 0; m < 50; m++) {
      const at = env.clock.now();
      env.service.ingestor.ingestSamples([{ target: 'db', metric: 'load', at, value: 50 + Math.sin(m) }, { target: 'db', metric: 'disk_used_ratio', at, value: disk(m) }]);
      env.service.ingestor.ingestEvents([
        ...Array.from({ length: 5 }, (_, i) => ({ target: 'db', op: 'read', bytes: 100, latencyMs: 20 + i, at: at + 1000 * i })),
        ...Array.from({ length: 20 }, (_, i) => ({ target: 'api', op: 'read', bytes: 100, latencyMs: latency(m) * (0.9 + 0.005 * i), at: at + 1000 * i })),
      ]);
      env.clock.advance(MIN);
      await env.service.controller.idle();
      await new Promise((r) => setImmediate(r));
    }
    const now = env.clock.now();
    for (const [target, signal, crossing] of [['db', 'disk_used_ratio', 90], ['api', 'requests.p99', 70]] as const) {
      const risk = (await call('GET', `/v1/targets/${target}/risk`)).body;
      assert.equal(risk.reason, 'Scored', target);
      assert.equal(risk.limit.signal, signal, `${target}: ${JSON.stringify(risk.drivers)}`);
      assert.ok(risk.limit.probability > 0.5, `${target}: ${risk.limit.probability}`);
      const truth = now - 50 * MIN + crossing * MIN;
      assert.ok(Math.abs(risk.limit.crossAt - truth) < 0.3 * (truth - now), `${target}: crossing forecast ${(risk.limit.crossAt - truth) / MIN} min off`);
      assert.match(risk.limit.detail, new RegExp(`${signal.replace('.', '\\.')} reaches`));
      assert.deepEqual(risk.drivers.filter((d: { signal: string }) => d.signal !== signal && d.signal !== 'anomaly'), [], `${target}: the limits not approached do not drive`);
      const [decision] = (await call('GET', `/v1/targets/${target}/decisions?limit=1`)).body.decisions;
      assert.deepEqual(decision.scores.riskLimit, risk.limit, `${target}: the decision records the limit`);
    }
  });

  test('the API refuses bad risk settings, naming the field', async () => {
    const bad = await call('PUT', '/v1/targets/api/control', { settings: { risk: { limits: [{ requests: 'errorRate', max: 2 }] } }, why: 'x' });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.problems, [{ path: '/body/settings/risk/limits/0/max', message: 'an error rate is a share of requests: must be between 0 and 1' }]);
  });
});
