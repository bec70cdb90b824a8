import assert from 'node:assert/strict';
import { appendFile, readdir } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { isCoded } from '../../../src/core/errors.js';
import type { StoredRecord } from '../../../src/shadows/partitions/log.js';
import type { SegmentLog } from '../../../src/shadows/partitions/segment-log.js';
import { jetstreamBackend, jetstreamSkipReason, segmentBackend, type Backend } from './backends.js';

function recs(from: number, n: number): StoredRecord[] {
  return Array.from({ length: n }, (_, i) => ({ id: `id-${from + i}`, key: `k${(from + i) % 3}`, value: `v${from + i}`, at: 1000 + from + i, offset: from + i }));
}

function suite(name: string, make: () => Promise<Backend>, skip?: string): void {
  describe(`replica log: ${name}`, { skip }, () => {
    it('appends, reads back in order and refuses gaps and overlaps', async () => {
      const b = await make();
      const log = await b.open();
      try {
        await log.create('p0-a', 5);
        await log.create('p0-a', 99); // idempotent: base stays 5
        assert.equal(await log.end('p0-a'), 5);
        await log.append('p0-a', recs(5, 10));
        assert.equal(await log.end('p0-a'), 15);
        assert.deepEqual(await log.read('p0-a', 7, 3), recs(7, 3));
        assert.deepEqual(await log.read('p0-a', 15, 3), []);
        await assert.rejects(log.append('p0-a', recs(20, 1)), (e) => isCoded(e, 'SHADOWPLANE_ERR_STREAM_OFFSET'));
        await assert.rejects(log.append('p0-a', recs(14, 1)), (e) => isCoded(e, 'SHADOWPLANE_ERR_STREAM_OFFSET'));
        await assert.rejects(log.read('p0-a', 4, 1), (e) => isCoded(e, 'SHADOWPLANE_ERR_STREAM_OFFSET'));
        await assert.rejects(log.end('nope'), (e) => isCoded(e, 'SHADOWPLANE_ERR_NOT_FOUND'));
        assert.equal(await log.exists('nope'), false);
      } finally {
        await log.close();
        await b.cleanup();
      }
    });

    it('keeps records and metadata across a reopen, and drops replicas', async () => {
      const b = await make();
      let log = await b.open();
      try {
        await log.create('p1-a', 0);
        await log.append('p1-a', recs(0, 4));
        await log.setMeta('committed.1', 2);
        await log.setMeta('committed.1', 3);
        assert.equal(await log.getMeta('absent'), undefined);
        await log.close();
        log = await b.open();
        assert.equal(await log.end('p1-a'), 4);
        assert.deepEqual(await log.read('p1-a', 0, 10), recs(0, 4));
        assert.equal(await log.getMeta('committed.1'), 3);
        await log.drop('p1-a');
        assert.equal(await log.exists('p1-a'), false);
      } finally {
        await log.close();
        await b.cleanup();
      }
    });
  });
}

suite('segment files', segmentBackend);
suite('NATS JetStream', jetstreamBackend, await jetstreamSkipReason());

describe('segment log recovery', () => {
  it('cuts a torn tail frame left by a crash and appends after the last whole record', async () => {
    const b = await segmentBackend();
    const dir = (b as unknown as { open(): Promise<SegmentLog> });
    const log = await dir.open();
    try {
      await log.create('p2-a', 0);
      await log.append('p2-a', recs(0, 3));
      await log.close();
      const root = ((log as unknown as { options: { dir: string } }).options.dir) + '/replicas/p2-a';
      const seg = (await readdir(root)).find((f) => f.endsWith('.seg'))!;
      await appendFile(`${root}/${seg}`, Buffer.from([0, 0, 0, 50, 1, 2, 3]));
      const again = await b.open();
      assert.equal(await again.end('p2-a'), 3);
      await again.append('p2-a', recs(3, 2));
      assert.deepEqual(await again.read('p2-a', 0, 10), recs(0, 5));
      await again.close();
    } finally {
      await b.cleanup();
    }
  });
});

describe('JetStream unreachable', () => {
  it('fails with SHADOWPLANE_ERR_STREAM_BACKEND', async () => {
    const { JetStreamLog } = await import('../../../src/shadows/partitions/jetstream-log.js');
    await assert.rejects(JetStreamLog.open({ prefix: 'SPT_none', url: 'nats://127.0.0.1:1', timeoutMs: 500 }), (e) => isCoded(e, 'SHADOWPLANE_ERR_STREAM_BACKEND'));
  });
});
