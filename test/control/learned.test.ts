/**
 * What a loop learns, across real service restarts on both Shadow Store backends (SQLite file,
 * PostgreSQL): the headroom refined from under-provisioning and the provisioning delay measured on
 * the replay fleet's scale-ups (used as the lead time) survive a stop and a new service on the same
 * store, and a settings change that does not invalidate them. A "false-positive" verdict raises the
 * alarm level of the event's driver, audited, so that the next identical excursion opens no event,
 * while a twin target fed the same data and not triaged alarms again; the level can be reset.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { VirtualClock } from '../../src/core/clock.js';
import { validateConfig } from '../../src/config.js';
import type { AnomalyRecord } from '../../src/model/detect.js';
import type { AuditEntry, DecisionRecord } from '../../src/model/decision.js';
import { ShadowplaneService } from '../../src/service.js';
import { T0 } from '../helpers/service.js';
import { onBothStores, type StoreChoice, type StoreDrop } from '../helpers/postgres.js';

const MIN = 60_000;
/** The fleet takes 2 minutes to boot a unit; the settings say 5 (what the lead time learns away from). */
const CONTROL = {
  capacityPerUnit: 100, initialUnits: 1, minWindows: 2, season: '0s', history: '3h', provisioningDelay: '5m', horizon: '10m', scaleUpLookahead: '5m', metric: 'load',
};
/** `shop` learns to scale; `alarm` and its twin `echo` get the same excursions, only `alarm`'s is triaged. */
const TARGETS = ['shop', 'alarm', 'echo'];
/**
 * The alarm targets' detection: alarming from 0.3 (the detector learns from the first excursion,
 * so the second scores lower, though still above this), and levels up to 0.999.
 */
const ALARM = { alarmThreshold: 0.3, maxAlarmLevel: 0.999 };

interface Learned {
  headroom: { value: number | null };
  leadTime: { steps: number; source: string; learnedMs: number | null; measuredScaleUpsMs: number[] };
  alarm: { threshold: number; levels: Record<string, number> };
  history: { key: string; from: number | null; to: number | null; why: string; actor?: string }[];
}

function learnedSuite(name: string, storeConfig: StoreChoice, dropStore: StoreDrop) {
  describe(`learned state on ${name}`, () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sp-learned-'));
    let store: Record<string, unknown> = {};
    let skip: string | undefined;
    let service: ShadowplaneService | undefined;
    let clock: VirtualClock;

    async function start(at: number): Promise<void> {
      clock = new VirtualClock(at);
      const config = validateConfig({
        store: { dataDir, ...store },
        targets: TARGETS.map((t) => ({ name: t, kind: 'service', sampling: { rate: 1 }, actuator: { type: 'replay', provisioningDelayMs: 2 * MIN }, control: t === 'shop' ? CONTROL : { ...CONTROL, anomaly: ALARM } })),
      });
      service = await ShadowplaneService.create(config, { clock });
      service.controller.start();
    }

    /** One minute of the same load on `targets`, then the ticks and the outcomes they wait for. */
    async function minute(load: number, targets = ['shop']): Promise<void> {
      const at = clock.now();
      service!.ingestor.ingestSamples(targets.map((target) => ({ target, metric: 'load', at, value: load })));
      clock.advance(MIN);
      await service!.controller.idle();
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    }

    const learned = async (target = 'shop'): Promise<Learned> => {
      const res = await service!.api.inject({ method: 'GET', url: `/v1/targets/${target}/learned` });
      assert.equal(res.statusCode, 200, res.body);
      return res.json() as Learned;
    };
    const events = (target: string): Promise<AnomalyRecord[]> => service!.store.listAnomalies({ target, limit: 100 });
    const steady = (m: number) => 150 + 20 * Math.sin(m * 1.7);

    before(async () => {
      const cfg = await storeConfig();
      if (typeof cfg === 'string') skip = cfg;
      else store = cfg;
    });
    after(async () => {
      await service?.stop();
      if (!skip) await dropStore(store);
      rmSync(dataDir, { recursive: true, force: true });
    });

    test('learned headroom and lead time survive a restart and a settings change', async (t) => {
      if (skip) return t.skip(skip);
      await start(T0);
      // A rising load: each step under-provisions and asks for units the fleet boots in 2 minutes.
      for (let level = 1; level <= 6; level++) for (let m = 0; m < 6; m++) await minute(90 * level + 60);
      await service!.controller.loop('shop').outcomesRecorded();
      const before = await learned();
      assert.ok(before.leadTime.measuredScaleUpsMs.length >= 3, `scale-ups measured: ${JSON.stringify(before.leadTime.measuredScaleUpsMs)}`);
      for (const ms of before.leadTime.measuredScaleUpsMs) assert.ok(ms >= 2 * MIN && ms < 5 * MIN, `a scale-up took ${ms} ms on a 2-minute fleet`);
      assert.equal(before.leadTime.source, 'learned');
      assert.ok(before.leadTime.steps < 5, `the learned lead time (${before.leadTime.steps} steps) replaced the configured 5`);
      assert.ok(before.headroom.value !== null && before.headroom.value > 0.05, `under-provisioning raised the headroom above its start (${before.headroom.value})`);
      assert.ok(before.history.some((c) => c.key === 'leadTime') && before.history.some((c) => c.key === 'headroom'));

      const stoppedAt = clock.now();
      await service!.stop();
      await start(stoppedAt);
      const restored = await learned();
      assert.equal(restored.headroom.value, before.headroom.value, 'headroom survives the restart');
      assert.deepEqual(restored.leadTime, before.leadTime, 'lead time survives the restart');
      assert.deepEqual(restored.history, before.history);
      await minute(steady(0));
      const [tick] = (await service!.store.listDecisions({ target: 'shop', limit: 5 })).filter((d: DecisionRecord) => !d.response && !d.component);
      assert.equal(tick.inputs.provisioningDelaySteps, before.leadTime.steps, 'the first tick after the restart plans with the learned lead time');

      const put = await service!.api.inject({ method: 'PUT', url: '/v1/targets/shop/control', payload: { settings: { maxUnits: 50 }, why: 'more room', actor: 'ann' } });
      assert.equal(put.statusCode, 200, put.body);
      const changed = await learned();
      assert.equal(changed.leadTime.learnedMs, before.leadTime.learnedMs, 'a settings change keeps the learned lead time');
      assert.ok(changed.headroom.value !== null && Math.abs(changed.headroom.value - before.headroom.value!) < 0.01, 'and the headroom');
    });

    test('a false positive raises the driver\'s alarm level: the next identical excursion opens no event', async (t) => {
      if (skip) return t.skip(skip);
      const both = ['alarm', 'echo'];
      const excursion = async () => {
        for (let m = 0; m < 40; m++) await minute(steady(m), both);
        // a moderate excursion (a strong one scores above any level a verdict may teach)
        for (let m = 0; m < 3; m++) await minute(350, both);
        for (let m = 0; m < 30; m++) await minute(steady(m), both);
      };
      await excursion();
      const [first, ...others] = await events('alarm');
      assert.equal(others.length, 0, 'the excursion opened one event');
      assert.equal((await events('echo')).length, 1, 'and one on the twin');
      assert.notEqual(first.end, null, 'closed after the quiet period');

      const triaged = await service!.api.inject({ method: 'PUT', url: `/v1/anomalies/${encodeURIComponent(first.id)}/triage`, payload: { state: 'false-positive', why: 'a load test', actor: 'ann' } });
      assert.equal(triaged.statusCode, 200, triaged.body);
      const l = await learned('alarm');
      const level = l.alarm.levels.load;
      assert.ok(level > first.severity && level <= 0.999, `level ${level} above the event's severity ${first.severity}, within the bound`);
      assert.equal(l.history[0].key, 'alarmLevel.load');
      assert.equal(l.history[0].actor, 'ann');
      const audit = (await service!.store.listAudit('alarm', 10)) as AuditEntry[];
      assert.ok(audit.some((a) => a.action === 'learn-alarm-level' && a.actor === 'ann'), 'audited');

      await excursion();
      assert.equal((await events('alarm')).length, 1, 'the identical excursion opened no event on the triaged target');
      assert.equal((await events('echo')).length, 2, 'its twin, not triaged, alarmed again');

      const reset = await service!.api.inject({ method: 'DELETE', url: '/v1/targets/alarm/learned/alarm-levels/load', payload: { why: 'load tests are over', actor: 'bob' } });
      assert.equal(reset.statusCode, 200, reset.body);
      assert.deepEqual((reset.json() as Learned).alarm.levels, {});
      const again = await service!.api.inject({ method: 'DELETE', url: '/v1/targets/alarm/learned/alarm-levels/load', payload: { why: 'twice' } });
      assert.equal(again.statusCode, 404);
      assert.ok(((await service!.store.listAudit('alarm', 10)) as AuditEntry[]).some((a) => a.action === 'reset-alarm-level' && a.actor === 'bob'));
    });
  });
}

onBothStores('sp_learned', learnedSuite);
