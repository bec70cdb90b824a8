import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { VirtualClock } from '../../../src/core/clock.js';
import { StreamService, type PartitionWindow, type StreamEvent } from '../../../src/shadows/partitions/service.js';
import { segmentBackend, type Backend } from './backends.js';
import { until } from '../../helpers/wait.js';

describe('stream service on a virtual clock', () => {
  let backend: Backend | undefined;
  after(async () => backend?.cleanup());

  it('closes windows, stamps events and measures lag and dwell only on the clock it is given', async () => {
    backend = await segmentBackend();
    const log = await backend.open();
    const start = 1_700_000_000_000;
    const clock = new VirtualClock(start);
    let delivered = 0;
    const svc = await StreamService.start({
      log, partitions: 2, workers: 2, capacity: 1000, windowMs: 10_000, clock,
      onDeliver: (_p, recs) => {
        delivered += recs.length;
      },
    });
    const windows: PartitionWindow[][] = [];
    const events: StreamEvent[] = [];
    svc.onWindow((w) => windows.push(w));
    svc.onEvent((e) => events.push(e));
    try {
      const inputs = Array.from({ length: 40 }, (_, i) => ({ key: `k${i}`, value: String(i) }));
      await svc.append(inputs);
      await until('every record committed', () => delivered === inputs.length);
      // Real time has passed, virtual time has not: no window has closed yet.
      assert.equal(windows.length, 0);
      clock.advance(10_000);
      assert.equal(windows.length, 1);
      const figures = windows[0];
      assert.deepEqual(figures.map((w) => w.at), [start + 10_000, start + 10_000]);
      assert.equal(figures.reduce((s, w) => s + w.arrivalRate, 0), inputs.length / 10);
      assert.equal(figures.reduce((s, w) => s + w.throughput, 0), inputs.length / 10);
      // Appended and committed at the same clock time.
      assert.deepEqual(figures.map((w) => w.lagP99Ms), [0, 0]);
      assert.deepEqual(figures.map((w) => w.utilisation), figures.map((w) => w.arrivalRate / 1000));

      const target = (svc.table.owners[0] + 1) % 2;
      await svc.createShadow(0, target, 'test');
      await until('the shadow caught up', () => events.some((e) => e.kind === 'caught-up'));
      assert.equal(svc.partitions()[0].standby?.since, start + 10_000);
      assert.deepEqual(events.find((e) => e.kind === 'caught-up')?.evidence?.tookMs, 0);
      clock.advance(300_000);
      assert.equal(windows.length, 31);
      await svc.release(0, 'test');
      const released = events.find((e) => e.kind === 'released');
      assert.equal(released?.at, start + 310_000);
      assert.equal(released?.evidence?.heldMs, 300_000);
    } finally {
      await svc.stop();
      await log.close();
    }
  });
});
