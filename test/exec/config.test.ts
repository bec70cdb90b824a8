import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualClock } from '../../src/core/clock.js';
import { isCoded } from '../../src/core/errors.js';
import { createActuator, parseActuatorConfig, parseExecutorConfig } from '../../src/exec/config.js';
import { VirtualFleet } from '../../src/exec/replay.js';

test('defaults are filled for every actuator type and the executor', () => {
  assert.deepEqual(parseActuatorConfig({ type: 'webhook', url: 'http://127.0.0.1:9/x' }), {
    type: 'webhook', url: 'http://127.0.0.1:9/x', timeoutMs: 10_000, retries: 2,
    backoff: { baseMs: 250, factor: 2, maxMs: 5000, jitter: 0.5 }, headers: {}, rollback: false,
  });
  assert.deepEqual(parseActuatorConfig({ type: 'command', command: 'scale.sh' }), {
    type: 'command', command: 'scale.sh', args: [], shell: false, env: {}, inheritEnv: true, timeoutMs: 30_000, killGraceMs: 2000, rollback: false,
  });
  assert.deepEqual(parseActuatorConfig({ type: 'replay' }), { type: 'replay', provisioningDelayMs: 300_000 });
  assert.deepEqual(parseExecutorConfig(undefined), {
    maxConcurrent: 8, maxPerTarget: 1, maxAttempts: 3, backoff: { baseMs: 1000, factor: 2, maxMs: 30_000, jitter: 0.5 },
    applyTimeoutMs: 120_000, verifyDeadlineMs: 600_000, verifyIntervalMs: 10_000,
  });
  assert.deepEqual(parseExecutorConfig({ backoff: { factor: 3 } }).backoff, { baseMs: 1000, factor: 3, maxMs: 30_000, jitter: 0.5 });
});

test('bad configs name each key and its rule; unknown keys and types are refused', () => {
  const problems = (raw: unknown): string[] => {
    try {
      parseActuatorConfig(raw, '/targets/db-1/actuator');
      return [];
    } catch (err) {
      assert.ok(isCoded(err, 'SHADOWPLANE_ERR_CONFIG_INVALID'));
      return err.problems.map((p) => `${p.path}: ${p.message}`);
    }
  };
  const web = problems({ type: 'webhook', url: 'ftp://x', timeoutMs: 0, retries: 'many', color: 'red' });
  for (const key of ['url', 'timeoutMs', 'retries', 'color']) assert.ok(web.some((p) => p.startsWith(`/targets/db-1/actuator/${key}`)), `${key} in ${web.join('; ')}`);
  assert.ok(problems({ type: 'command' }).some((p) => p.startsWith('/targets/db-1/actuator/command')));
  assert.deepEqual(problems({ type: 'kubectl' }), ['/targets/db-1/actuator/type: must be one of webhook, command, replay, got "kubectl"']);
  assert.deepEqual(problems(null), ['/targets/db-1/actuator/type: must be one of webhook, command, replay, got undefined']);
});

test('createActuator builds each kind; a replay actuator shares the fleet it is given', async () => {
  const clock = new VirtualClock();
  assert.equal(createActuator(parseActuatorConfig({ type: 'webhook', url: 'http://127.0.0.1:9/' }), { clock }).kind, 'webhook');
  const cmd = createActuator(parseActuatorConfig({ type: 'command', command: 'true', rollback: true }), { clock });
  assert.equal(cmd.kind, 'command');
  assert.equal(typeof cmd.rollback, 'function');
  assert.equal(createActuator(parseActuatorConfig({ type: 'webhook', url: 'http://127.0.0.1:9/' }), { clock }).rollback, undefined);
  const fleet = new VirtualFleet(clock, 0);
  const replay = createActuator(parseActuatorConfig({ type: 'replay' }), { clock, fleet });
  await replay.apply({ id: 'a', target: 't', kind: 'scale', from: 0, to: 3, reason: 'r', mode: 'manual', idempotencyKey: 'k', createdAt: 0 }, new AbortController().signal);
  assert.equal(fleet.ready('t'), 3);
});
