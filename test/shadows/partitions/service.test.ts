import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isCoded } from '../../../src/core/errors.js';
import { StreamService, type StreamEvent } from '../../../src/shadows/partitions/service.js';
import type { WireRecord } from '../../../src/shadows/partitions/protocol.js';
import { jetstreamBackend, jetstreamSkipReason, segmentBackend, type Backend } from './backends.js';
import { until } from '../../helpers/wait.js';

/** Checks the consumer's output: every record once, per key in production order. */
class Ledger {
  readonly seen = new Map<string, number>();
  readonly lastSeq = new Map<string, number>();
  duplicates = 0;
  orderViolations = 0;
  add(records: readonly WireRecord[]): void {
    for (const r of records) {
      this.seen.set(r.id, (this.seen.get(r.id) ?? 0) + 1);
      if (this.seen.get(r.id)! > 1) this.duplicates++;
      const seq = Number(r.value);
      if (seq !== (this.lastSeq.get(r.key) ?? -1) + 1) this.orderViolations++;
      this.lastSeq.set(r.key, seq);
    }
  }
}

/** Appends batches of one record per key (`user-<i>`, values numbered per key) and counts them. */
class Producer {
  produced = 0;
  private readonly keys: string[];
  private readonly seq = new Map<string, number>();

  constructor(private readonly svc: StreamService, keyCount: number) {
    this.keys = Array.from({ length: keyCount }, (_, i) => `user-${i}`);
  }

  /** Appends `count` batches; `afterBatch(b)` runs once batch b is appended (fault injection mid-stream). */
  async batches(count: number, afterBatch?: (b: number) => void): Promise<void> {
    for (let b = 0; b < count; b++) {
      const batch = this.keys.map((key) => {
        const n = this.seq.get(key) ?? 0;
        this.seq.set(key, n + 1);
        return { key, value: String(n), id: `${key}:${n}` };
      });
      await this.svc.append(batch);
      this.produced += batch.length;
      afterBatch?.(b);
      await sleep(5);
    }
  }
}

function suite(name: string, make: () => Promise<Backend>, skip?: string): void {
  describe(`stream service (${name})`, { skip }, () => {
    let backend: Backend;
    after(async () => backend?.cleanup());

    it('delivers every record exactly once, in per-key order, across a switch-over and a worker kill', async () => {
      backend = await make();
      const log = await backend.open();
      const ledger = new Ledger();
      // A small dispatch cache: records are dispatched and backfilled both from memory and from storage.
      const svc = await StreamService.start({
        log,
        partitions: 4,
        workers: 3,
        capacity: 3000,
        windowMs: 200,
        dispatchCache: 16,
        onDeliver: (_p, recs) => ledger.add(recs),
      });
      const events: string[] = [];
      svc.onEvent((e) => events.push(`${e.kind}:${e.partition ?? e.worker}`));
      try {
        const producer = new Producer(svc, 40);
        await producer.batches(10);
        const target = (svc.table.owners[0] + 1) % 3;
        await svc.createShadow(0, target, 'test');
        await producer.batches(10);
        await svc.switchOver(0, 'test');
        assert.equal(svc.table.owners[0], target);
        assert.equal(svc.partitions()[0].standby?.role, 'former');
        // Kill the new owner while records are in flight (after the 4th of 15 batches): its partitions fail over to live workers.
        await producer.batches(15, (b) => {
          if (b === 3) process.kill(svc.workerPid(target)!, 'SIGKILL');
        });
        await svc.release(0, 'test');
        await producer.batches(5);
        await until('all records committed', () => [...ledger.seen.keys()].length === producer.produced);
        // Partition 0 was failed over at once; the replacement process joins later, as spare capacity.
        await until('the replacement worker', () => events.includes(`worker-restarted:${target}`));
        await until('every partition committed to its end', () => svc.partitions().every((p) => p.committed === p.end));
        assert.equal(ledger.duplicates, 0);
        assert.equal(ledger.orderViolations, 0);
        assert.equal([...ledger.seen.keys()].length, producer.produced);
        assert.ok(events.includes(`switched:0`) && events.includes('failed-over:0') && events.includes('released:0'), events.join(' '));
        assert.ok(events.indexOf('failed-over:0') < events.indexOf(`worker-restarted:${target}`), events.join(' '));
        assert.equal(svc.partitions()[0].standby, undefined);
      } finally {
        await svc.stop();
        await log.close();
      }
    });

    it('fails a dead worker\'s partitions over to live workers (standby first) before its replacement is ready', async () => {
      const b = await make();
      const log = await b.open();
      const ledger = new Ledger();
      const perPartition = [0, 0, 0, 0];
      const svc = await StreamService.start({
        log, partitions: 4, workers: 3, capacity: 3000, windowMs: 200, dispatchCache: 16,
        onDeliver: (p, recs) => { ledger.add(recs); perPartition[p] += recs.length; },
      });
      const events: StreamEvent[] = [];
      let atRestart: number[] | undefined;
      svc.onEvent((e) => {
        events.push(e);
        if (e.kind === 'worker-restarted') atRestart = [...perPartition];
      });
      try {
        // Worker 0 owns partitions 0 and 3; partition 0 gets a caught-up shadow on worker 1.
        const victim = svc.table.owners[0];
        const orphans = svc.table.owners.flatMap((w, p) => (w === victim ? [p] : []));
        assert.ok(orphans.length >= 2, `worker ${victim} owns ${orphans.join(',')}`);
        const standbyWorker = (victim + 1) % 3;
        const producer = new Producer(svc, 60);
        await producer.batches(10);
        await svc.createShadow(orphans[0], standbyWorker, 'test');
        await until('shadow caught up', () => svc.partitions()[orphans[0]].standby?.caughtUpAt !== undefined);
        await until('records flowing', () => perPartition.every((n) => n > 0));
        const atKill = [...perPartition];
        process.kill(svc.workerPid(victim)!, 'SIGKILL');
        // Keep producing until the replacement process is up, and a little after.
        while (atRestart === undefined) {
          await producer.batches(1);
          assert.ok(producer.produced < 200_000, 'the replacement worker never became ready');
        }
        await producer.batches(5);
        await until('all records committed', () => ledger.seen.size === producer.produced);
        await until('every partition committed to its end', () => svc.partitions().every((p) => p.committed === p.end));
        assert.equal(ledger.duplicates, 0);
        assert.equal(ledger.orderViolations, 0);
        assert.equal(ledger.seen.size, producer.produced);

        const failovers = events.filter((e) => e.kind === 'failed-over');
        assert.deepEqual(failovers.map((e) => e.partition).sort(), [...orphans].sort());
        const restarted = events.findIndex((e) => e.kind === 'worker-restarted');
        for (const e of failovers) {
          assert.ok(events.indexOf(e) < restarted, `partition ${e.partition} failed over after the replacement was ready`);
          assert.notEqual(e.worker, victim);
          assert.equal(e.evidence?.from, victim);
        }
        const viaStandby = failovers.find((e) => e.partition === orphans[0])!;
        assert.equal(viaStandby.worker, standbyWorker);
        assert.equal(viaStandby.evidence?.via, 'standby');
        assert.equal(svc.partitions()[orphans[0]].standby?.role, 'former');
        assert.ok(failovers.filter((e) => e.partition !== orphans[0]).every((e) => e.evidence?.via === 'committed'));
        // Served by live workers while the replacement was starting, which then took nothing.
        for (const p of orphans) assert.ok(atRestart![p] > atKill[p], `partition ${p}: nothing delivered before the replacement was ready`);
        assert.deepEqual(events[restarted].evidence?.partitions, []);
        assert.ok(orphans.every((p) => svc.table.owners[p] !== victim));
      } finally {
        await svc.stop();
        await log.close();
        await b.cleanup();
      }
    });

    it('refuses operator moves that break the rules', async () => {
      const b = await make();
      const log = await b.open();
      const svc = await StreamService.start({ log, partitions: 2, workers: 2, capacity: 1000 });
      try {
        const owner = svc.table.owners[1];
        await assert.rejects(svc.forceMove(1, owner), (e) => isCoded(e, 'SHADOWPLANE_ERR_STREAM_STATE'));
        await assert.rejects(svc.forceMove(1, 7), (e) => isCoded(e, 'SHADOWPLANE_ERR_STREAM_STATE'));
        await assert.rejects(svc.switchOver(1, 'x'), (e) => isCoded(e, 'SHADOWPLANE_ERR_STREAM_STATE'));
        svc.pin(1, true);
        await assert.rejects(svc.forceMove(1, 1 - owner), (e) => isCoded(e, 'SHADOWPLANE_ERR_STREAM_STATE'));
        svc.pin(1, false);
        svc.forbid(1, 1 - owner, true);
        await assert.rejects(svc.forceMove(1, 1 - owner), (e) => isCoded(e, 'SHADOWPLANE_ERR_STREAM_STATE'));
        svc.forbid(1, 1 - owner, false);
        await svc.forceMove(1, 1 - owner);
        assert.equal(svc.table.owners[1], 1 - owner);
        await assert.rejects(svc.createShadow(9, 0, 'x'), (e) => isCoded(e, 'SHADOWPLANE_ERR_NOT_FOUND'));
      } finally {
        await svc.stop();
        await log.close();
        await b.cleanup();
      }
    });
  });
}

suite("segment files", segmentBackend);
suite("NATS JetStream", jetstreamBackend, await jetstreamSkipReason());
