import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideReactive, decideShadow, DEFAULT_SHADOW_POLICY, placeFailover, type PartitionInput } from '../../../src/shadows/partitions/policy.js';

function part(partition: number, worker: number, forecast: number[], extra: Partial<PartitionInput> = {}): PartitionInput {
  return { partition, worker, utilisation: forecast[0], recentMean: forecast[0], measured: [forecast[0]], forecast, pinned: false, forbidden: [], ...extra };
}

describe('shadowing policy', () => {
  it('creates a shadow for the hottest partition when its worker is forecast above 75 %, on the emptiest allowed worker', () => {
    const parts = [part(0, 0, [0.5, 0.6, 0.65]), part(1, 0, [0.15, 0.15, 0.15]), part(2, 1, [0.2, 0.2, 0.2]), part(3, 2, [0.1, 0.1, 0.1])];
    assert.deepEqual(decideShadow(parts, 3, 0).map((a) => [a.kind, a.partition, 'worker' in a ? a.worker : -1]), [['create', 0, 2]]);
    const forbidden = parts.map((p) => (p.partition === 0 ? { ...p, forbidden: [2] } : p));
    assert.deepEqual(decideShadow(forbidden, 3, 0).map((a) => 'worker' in a && a.worker), [1]);
    const pinned = parts.map((p) => (p.partition === 0 ? { ...p, pinned: true } : p));
    assert.deepEqual(decideShadow(pinned, 3, 0).map((a) => [a.kind, a.partition]), [['create', 1]]);
  });

  it('never places on a worker that would itself cross 75 %', () => {
    const parts = [part(0, 0, [0.7, 0.8]), part(1, 0, [0.1, 0.1]), part(2, 1, [0.8, 0.8])];
    assert.deepEqual(decideShadow(parts, 2, 0), []);
  });

  it('switches at once when 90 % is imminent, waits for a quiet moment otherwise', () => {
    const standby = { worker: 1, role: 'shadow' as const, since: 0, caughtUp: true };
    const soon = [part(0, 0, [0.8, 0.95, 1.0], { standby }), part(1, 0, [0.1, 0.1, 0.1])];
    const a = decideShadow(soon, 2, 1);
    assert.equal(a[0].kind, 'switch');
    assert.equal(a[0].kind === 'switch' && a[0].urgent, true);
    const later = [part(0, 0, [0.6, 0.62, 0.64, 0.7, 0.85], { standby, utilisation: 0.6, recentMean: 0.5 }), part(1, 0, [0.1, 0.1, 0.1, 0.1, 0.1])];
    assert.deepEqual(decideShadow(later, 2, 1), [], 'busy moment and not imminent: wait');
    const quiet = later.map((p) => (p.partition === 0 ? { ...p, utilisation: 0.45 } : p));
    assert.equal(decideShadow(quiet, 2, 1)[0]?.kind, 'switch');
    const notCaught = soon.map((p) => (p.partition === 0 ? { ...p, standby: { ...standby, caughtUp: false } } : p));
    assert.deepEqual(decideShadow(notCaught, 2, 1), []);
  });

  it('releases below 60 % only after the minimum dwell, and respects the cooldown', () => {
    const standby = { worker: 1, role: 'former' as const, since: 0, caughtUp: true };
    const low = [part(0, 0, [0.3, 0.3], { standby })];
    assert.deepEqual(decideShadow(low, 2, DEFAULT_SHADOW_POLICY.minDwellMs - 1), []);
    assert.equal(decideShadow(low, 2, DEFAULT_SHADOW_POLICY.minDwellMs)[0]?.kind, 'release');
    const hotAgain = [part(0, 0, [0.8, 0.85], { lastReleaseAt: 1000 })];
    assert.deepEqual(decideShadow(hotAgain, 2, 2000), [], 'within the cooldown');
    assert.equal(decideShadow(hotAgain, 2, 1000 + DEFAULT_SHADOW_POLICY.cooldownMs)[0]?.kind, 'create');
  });

  it('keeps a shadow never switched to for the cooldown, and counts it on its target when placing others', () => {
    const shadow = { worker: 2, role: 'shadow' as const, since: 0, caughtUp: true };
    const cool = [part(0, 0, [0.3, 0.3], { standby: shadow })];
    assert.deepEqual(decideShadow(cool, 3, DEFAULT_SHADOW_POLICY.minDwellMs), [], 'past the dwell, within the cooldown');
    assert.equal(decideShadow(cool, 3, DEFAULT_SHADOW_POLICY.cooldownMs)[0]?.kind, 'release');
    // Partition 0 is headed for worker 2 (its shadow); partition 1, hot on worker 1, must go to worker 3.
    const parts = [part(0, 0, [0.5, 0.6, 0.7], { standby: { ...shadow, since: 1 } }), part(1, 1, [0.6, 0.7, 0.8]), part(2, 3, [0.05, 0.05, 0.05])];
    assert.deepEqual(decideShadow(parts, 4, 2).map((a) => [a.kind, a.partition, 'worker' in a ? a.worker : -1]), [['create', 1, 3]]);
  });

  it('with no worker able to take the partition within 90 %, still places a standby, but does not switch to it', () => {
    const parts = [part(0, 0, [0.7, 0.8, 0.95]), part(1, 1, [0.2, 0.2, 0.2])];
    assert.deepEqual(decideShadow(parts, 2, 0).map((a) => [a.kind, a.partition, 'worker' in a ? a.worker : -1]), [['create', 0, 1]]);
    const standby = { worker: 1, role: 'shadow' as const, since: 0, caughtUp: true };
    assert.deepEqual(decideShadow([{ ...parts[0], standby }, parts[1]], 2, 1), [], 'worker 1 would carry 1.15 against 0.95 here');
  });

  it('reactive baseline moves only after the measured window mean exceeds 80 %', () => {
    const parts = [part(0, 0, [0.9], { measured: [0.5, 0.9, 0.9] }), part(1, 1, [0.1], { measured: [0.1, 0.1, 0.1] })];
    assert.deepEqual(decideReactive(parts, 2, 3), []);
    const hot = [part(0, 0, [0.9], { measured: [0.85, 0.9, 0.9] }), part(1, 1, [0.1], { measured: [0.1, 0.1, 0.1] })];
    assert.deepEqual(decideReactive(hot, 2, 3).map((a) => [a.kind, a.partition]), [['create', 0]]);
  });
});

describe('failover placement', () => {
  it('prefers the standby\'s worker when it carries the partition within the limit, else the least-loaded candidate', () => {
    const load = [0, 0.5, 0.3, 0.3];
    assert.equal(placeFailover([1, 2, 3], load, 0.3, 1, 0.9), 1);
    // The standby's worker would reach 1.0: the least-loaded candidate instead, the first of a tie.
    assert.equal(placeFailover([1, 2, 3], load, 0.5, 1, 0.9), 2);
    // A standby on a worker that is not a candidate (dead or forbidden) is not used.
    assert.equal(placeFailover([2, 3], load, 0.1, 1, 0.9), 2);
    assert.equal(placeFailover([1, 3], load, 0.1, undefined, 0.9), 3);
    assert.equal(placeFailover([], load, 0.1, 1, 0.9), undefined);
  });
});
