import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualClock } from '../../src/core/clock.js';
import { isCoded } from '../../src/core/errors.js';
import { ReplayActuator, VirtualFleet } from '../../src/exec/replay.js';
import { action } from './helpers.js';

test('new units are ready after the provisioning delay; scale-down is immediate and cancels booting units first', () => {
  const clock = new VirtualClock(0);
  const fleet = new VirtualFleet(clock, 5 * 60_000);
  fleet.setDesired('db', 2);
  assert.deepEqual([fleet.desired('db'), fleet.ready('db')], [2, 0]);
  clock.advance(5 * 60_000);
  assert.deepEqual([fleet.desired('db'), fleet.ready('db')], [2, 2]);
  fleet.setDesired('db', 5);
  clock.advance(60_000);
  assert.deepEqual([fleet.desired('db'), fleet.ready('db')], [5, 2]);
  fleet.setDesired('db', 3);
  assert.deepEqual([fleet.desired('db'), fleet.ready('db')], [3, 2]);
  fleet.setDesired('db', 1);
  assert.deepEqual([fleet.desired('db'), fleet.ready('db')], [1, 1]);
  assert.deepEqual([fleet.desired('other'), fleet.ready('other')], [0, 0]);
  assert.throws(() => fleet.setDesired('db', 1.5), (err) => isCoded(err, 'SHADOWPLANE_ERR_VALIDATION'));
  assert.throws(() => fleet.setDesired('db', -1), (err) => isCoded(err, 'SHADOWPLANE_ERR_VALIDATION'));
});

test('the replay actuator applies, rolls back, observes ready units, and refuses non-capacity values', async () => {
  const clock = new VirtualClock(0);
  const fleet = new VirtualFleet(clock, 1000);
  const replay = new ReplayActuator(fleet);
  const a = action({ target: 'db', from: 0, to: 4 });
  const applied = await replay.apply(a);
  assert.deepEqual([applied.ok, applied.capacity], [true, 4]);
  assert.equal(await replay.observe(a), 0);
  clock.advance(1000);
  assert.equal(await replay.observe(a), 4);
  assert.equal((await replay.rollback(a)).ok, true);
  assert.equal(fleet.desired('db'), 0);
  const bad = await replay.apply(action({ kind: 'migrate', from: 'node-a', to: 'node-b' }));
  assert.equal(bad.ok, false);
  assert.equal(bad.retryable, false);
  assert.match(bad.reason, /whole number >= 0, got "node-b"/);
});
