/**
 * Every threshold is a validated setting: bad values in a target's anomaly settings, in the stream
 * service's partition policy flags and in the volume service's failover trigger flags are refused
 * with an error naming the field or flag, and the seeds' defaults are the defaults.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { validateConfig } from '../../src/config.js';
import { ShadowplaneError } from '../../src/core/errors.js';
import { parseControlSettings } from '../../src/control/settings.js';
import { DEFAULT_SHADOW_POLICY } from '../../src/shadows/partitions/policy.js';
import { cli } from '../helpers/cli.js';

/** The problem paths of a target's control settings the service refuses (the schema when the file is read, rules across keys when its loop is made). */
function refusedPaths(control: Record<string, unknown>): string[] {
  try {
    validateConfig({ targets: [{ name: 'shop', kind: 'service', control }] });
    parseControlSettings(control, '/targets/0/control');
  } catch (err) {
    assert.ok(err instanceof ShadowplaneError, String(err));
    return err.problems.map((p) => p.path);
  }
  assert.fail('the config was accepted');
}

test('defaults: react above 90 % use; alarm at 0.5, re-arm after 20 quiet steps, events end after 10 quiet minutes; partitions 75 / 90 / 60 %', () => {
  const s = parseControlSettings({});
  assert.equal(s.reactiveAboveUse, 0.9);
  assert.deepEqual({ ...s.anomaly }, { alarmThreshold: 0.5, rearmSteps: 20, quiet: '10m', maxAlarmLevel: 0.95, falsePositiveStep: 0.05 });
  assert.equal(s.leadTime, 'learned');
  assert.deepEqual([DEFAULT_SHADOW_POLICY.shadowAt, DEFAULT_SHADOW_POLICY.switchAt, DEFAULT_SHADOW_POLICY.releaseBelow], [0.75, 0.9, 0.6]);
});

test('bad anomaly settings are refused naming the field', () => {
  assert.deepEqual(refusedPaths({ anomaly: { alarmThreshold: 1.5 } }), ['/targets/0/control/anomaly/alarmThreshold']);
  assert.deepEqual(refusedPaths({ anomaly: { rearmSteps: 0 } }), ['/targets/0/control/anomaly/rearmSteps']);
  assert.deepEqual(refusedPaths({ anomaly: { quiet: 'soon' } }), ['/targets/0/control/anomaly/quiet']);
  assert.deepEqual(refusedPaths({ anomaly: { alarmThreshold: 0.8, maxAlarmLevel: 0.6 } }), ['/targets/0/control/anomaly/maxAlarmLevel']);
  assert.deepEqual(refusedPaths({ leadTime: 'guessed' }), ['/targets/0/control/leadTime']);
  assert.deepEqual(refusedPaths({ reactiveAboveUse: 0.7 }), ['/targets/0/control/proactiveBelowUse']);
});

test('bad partition policy and failover trigger flags are refused naming the flag or field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sp-flags-'));
  try {
    const run = (...args: string[]) => spawnSync(process.execPath, cli(...args), { encoding: 'utf8', timeout: 60_000 });
    const order = run('stream', 'serve', '--dir', dir, '--release-below', '0.8', '--listen', '127.0.0.1:0');
    assert.equal(order.status, 1);
    assert.match(order.stderr, /--release-below: must be below shadowAt \(0\.75\)/);
    const range = run('stream', 'serve', '--dir', dir, '--shadow-at', '1.5');
    assert.notEqual(range.status, 0);
    assert.match(range.stderr, /--shadow-at <ratio>.*must be a number between 0 and 1/);
    const dwell = run('stream', 'serve', '--dir', dir, '--dwell', 'a while');
    assert.notEqual(dwell.status, 0);
    assert.match(dwell.stderr, /--dwell <duration>.*must be a duration/);
    const trigger = run('volume', 'serve', '--dir', dir, '--failover-window', '4', '--failover-min-slow', '8');
    assert.equal(trigger.status, 1);
    assert.match(trigger.stderr, /failoverTrigger: minSlow must be <= window/);
    const factor = run('volume', 'serve', '--dir', dir, '--failover-factor', '0.5');
    assert.notEqual(factor.status, 0);
    assert.match(factor.stderr, /--failover-factor <n>.*must be a number >= 1/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
