/**
 * Anomaly events across real service restarts, on both Shadow Store backends (SQLite file,
 * PostgreSQL): a load spike opens an event, the operator acknowledges it, the service stops and a
 * new one starts on the same store. The anomaly going on continues the same event (one event, same
 * id, its last anomalous point moving on, the acknowledgement kept); after a restart within the
 * quiet period an anomaly that ended closes at its last anomalous point; after a downtime longer
 * than the quiet period an open event is closed at its last anomalous point before the downtime.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { VirtualClock } from '../../src/core/clock.js';
import { validateConfig } from '../../src/config.js';
import type { AnomalyRecord } from '../../src/model/detect.js';
import { ShadowplaneService } from '../../src/service.js';
import { T0 } from '../helpers/service.js';
import { onBothStores, type StoreChoice, type StoreDrop } from '../helpers/postgres.js';

const MIN = 60_000;
const QUIET = 10 * MIN; // the tracker's default quietMs
const CONTROL = { capacityPerUnit: 100, initialUnits: 2, minWindows: 2, season: '0s', history: '3h', provisioningDelay: '2m', horizon: '10m', scaleUpLookahead: '5m', metric: 'load' };

interface Running {
  service: ShadowplaneService;
  clock: VirtualClock;
}

function restartSuite(name: string, storeConfig: StoreChoice, dropStore: StoreDrop) {
  describe(`anomaly events across restarts on ${name}`, () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sp-restart-'));
    let store: Record<string, unknown> = {};
    let skip: string | undefined;
    let run: Running | undefined;

    /** A new service on the same store, its clock at `at`, loops started. */
    async function start(at: number): Promise<Running> {
      const clock = new VirtualClock(at);
      const config = validateConfig({
        store: { dataDir, ...store },
        targets: [{ name: 'shop', kind: 'service', sampling: { rate: 1 }, actuator: { type: 'replay', provisioningDelayMs: 2 * MIN }, control: CONTROL }],
      });
      const service = await ShadowplaneService.create(config, { clock });
      service.controller.start();
      return { service, clock };
    }

    /** One minute of load and cpu samples, then the tick. */
    async function minute(load: number): Promise<void> {
      const { service, clock } = run!;
      const at = clock.now();
      const m = Math.round(at / MIN);
      service.ingestor.ingestSamples([{ target: 'shop', metric: 'load', at, value: load }, { target: 'shop', metric: 'cpu', at, value: 0.4 + 0.01 * Math.cos(m * 1.3) }]);
      clock.advance(MIN);
      await service.controller.idle();
      await new Promise((r) => setImmediate(r));
    }

    const steady = (m: number) => 50 + 2 * Math.sin(m * 1.7);
    const events = async (): Promise<AnomalyRecord[]> => run!.service.store.listAnomalies({ target: 'shop', limit: 100 });

    before(async () => {
      const cfg = await storeConfig();
      if (typeof cfg === 'string') skip = cfg;
      else store = cfg;
    });
    after(async () => {
      await run?.service.stop();
      if (!skip) await dropStore(store);
      rmSync(dataDir, { recursive: true, force: true });
    });

    test('an anomaly going on across a restart continues its event; triage is kept', async (t) => {
      if (skip) return t.skip(skip);
      run = await start(T0);
      for (let m = 0; m < 45; m++) await minute(steady(m));
      assert.deepEqual(await events(), [], 'no event on steady load');
      for (let m = 0; m < 3; m++) await minute(400);
      const [opened, ...others] = await events();
      assert.equal(others.length, 0);
      assert.equal(opened.end, null);
      const ack = await run.service.api.inject({ method: 'PUT', url: `/v1/anomalies/${encodeURIComponent(opened.id)}/triage`, payload: { state: 'acknowledged', why: 'looking into it', actor: 'ann' } });
      assert.equal(ack.statusCode, 200);
      const stoppedAt = run.clock.now();
      await run.service.stop();

      run = await start(stoppedAt);
      for (let m = 0; m < 3; m++) await minute(400);
      const after = await events();
      assert.equal(after.length, 1, 'still one event after the restart');
      const e = after[0];
      assert.equal(e.id, opened.id);
      assert.equal(e.end, null);
      assert.ok(e.lastAnomalous! > stoppedAt, `the event went on after the restart (last anomalous ${e.lastAnomalous! - stoppedAt} ms after the stop)`);
      assert.ok(e.lastAnomalous! >= opened.lastAnomalous!);
      assert.equal(e.triageState, 'acknowledged');
      assert.deepEqual(e.triage, { actor: 'ann', why: 'looking into it', at: stoppedAt });
      assert.equal(e.drivers[0].signal, 'load');
    });

    test('after a restart within the quiet period, an anomaly that ended closes at its last anomalous point', async (t) => {
      if (skip) return t.skip(skip);
      for (let m = 0; m < 3; m++) await minute(steady(m));
      const [open] = await events();
      assert.equal(open.end, null, 'still open: the quiet period has not passed');
      const stoppedAt = run!.clock.now();
      await run!.service.stop();

      run = await start(stoppedAt);
      for (let m = 0; m < 15; m++) await minute(steady(m));
      const all = await events();
      assert.equal(all.length, 1, 'no second event');
      const [closed] = all;
      assert.equal(closed.id, open.id);
      assert.equal(closed.end, open.lastAnomalous, 'ends at the last anomalous point seen before the restart');
      assert.equal(closed.lastAnomalous, closed.end);
      assert.equal(closed.triageState, 'resolved');
      assert.equal(closed.triage?.actor, 'system');
    });

    test('after a downtime longer than the quiet period an open event is closed at its last anomalous point', async (t) => {
      if (skip) return t.skip(skip);
      for (let m = 0; m < 2; m++) await minute(400);
      const open = (await events()).find((e) => e.end === null)!;
      assert.ok(open, 'a new spike opened a new event');
      const stoppedAt = run!.clock.now();
      await run!.service.stop();

      run = await start(stoppedAt + 3 * QUIET);
      await minute(steady(0));
      const closed = (await events()).find((e) => e.id === open.id)!;
      assert.equal(closed.end, open.lastAnomalous, 'closed at the last anomalous point before the downtime');
      assert.ok(closed.end! <= stoppedAt);
      assert.equal(closed.triageState, 'resolved');
    });
  });
}

onBothStores('sp_restart', restartSuite);
