import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EpisodeAlarm, normalSurprise } from '../../src/detect/alarm.js';

test('normal tail surprise: -log10 Q(x) against reference values, increasing, no underflow', () => {
  // Q(0) = 0.5, Q(1) = 0.158655, Q(2.5) = 0.0062097, Q(4) = 3.16712e-5, Q(10) = 7.61985e-24, Q(40) ~ 3.7e-350
  for (const [x, s] of [[0, 0.30103], [1, 0.79953], [2.5, 2.20692], [4, 4.49934], [10, 23.11805]]) {
    assert.ok(Math.abs(normalSurprise(x) - s) < 2e-3, `x ${x}: ${normalSurprise(x)} vs ${s}`);
  }
  assert.ok(Math.abs(normalSurprise(40) - 349.43) < 0.01 && Number.isFinite(normalSurprise(40)));
  let prev = -Infinity;
  for (let x = 0; x < 12; x += 0.01) {
    const s = normalSurprise(x);
    assert.ok(s >= prev, `not increasing at ${x}`);
    prev = s;
  }
});

test('one alarm per episode; re-armed after the cooldown', () => {
  const a = new EpisodeAlarm({ cooldown: 50, rearmSteps: 5 });
  const quiet = (i: number) => 0.8 + 0.3 * Math.sin(i * 1.7);
  let i = 0;
  for (; i < 500; i++) assert.ok(a.step(quiet(i)) < 0.5, `quiet point ${i}`);
  const burst: number[] = [];
  for (let k = 0; k < 20; k++, i++) burst.push(a.step(12));
  assert.ok(burst[0] >= 0.5, `alarm ${burst[0]}`);
  assert.ok(burst.slice(1).every((s) => s < 0.5), 'the rest of the episode stays under the threshold');
  assert.equal(a.inEpisode, true);
  for (let k = 0; k < 60; k++, i++) a.step(quiet(i));
  assert.equal(a.alarmed, false, 're-armed after the cooldown');
  assert.ok(a.step(12) >= 0.5, 'a new burst is a new alarm');
});

test('the cooldown is capped at cooldownMs once the step is known', () => {
  const a = new EpisodeAlarm({ cooldown: 300, cooldownMs: 50 * 60_000, rearmSteps: 5 });
  a.setStepMs(60_000);
  const quiet = (i: number) => 0.8 + 0.3 * Math.sin(i * 1.7);
  let i = 0;
  for (; i < 500; i++) a.step(quiet(i));
  assert.ok(a.step(12) >= 0.5);
  for (let k = 0; k < 60; k++, i++) a.step(quiet(i));
  assert.equal(a.alarmed, false, 'armed again after 50 one-minute points, not 300');
  assert.ok(a.step(12) >= 0.5, 'the same burst alarms again');
});

test('bad alarm config names the knob', () => {
  assert.throws(() => new EpisodeAlarm({ shortWindow: 0 }), /shortWindow/);
  assert.throws(() => new EpisodeAlarm({ surprise50: 0 }), /surprise50/);
  assert.throws(() => new EpisodeAlarm({ alarmScore: 1 }), /alarmScore/);
  assert.throws(() => new EpisodeAlarm({ rearmScore: 0.9 }), /rearmScore/);
  assert.throws(() => new EpisodeAlarm({ escalation: -1 }), /escalation/);
  assert.throws(() => new EpisodeAlarm({ cooldownMs: 0 }), /cooldownMs/);
});
