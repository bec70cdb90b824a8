import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { testVolume } from './helpers.js';
import { Volume } from '../../../src/shadows/volumes/volume.js';
import { isCoded } from '../../../src/core/errors.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A deterministic pseudo-random generator so a failure replays the same operations. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

test('reads are never stale while hot copies move: every read matches a model by checksum', async () => {
  const vol = await testVolume();
  const model = Buffer.alloc(vol.size);
  const rand = rng(7);
  try {
    for (let i = 0; i < 1500; i++) {
      // A hot set of 24 blocks walked in order, plus random traffic, so copies are made and raced.
      const block = rand() < 0.7 ? 40 + (i % 24) : Math.floor(rand() * 256);
      const offset = block * 4096 + (rand() < 0.2 ? Math.floor(rand() * 4000) : 0);
      const length = Math.min(vol.size - offset, rand() < 0.2 ? 1 + Math.floor(rand() * 9000) : 4096);
      if (rand() < 0.3) {
        const data = randomBytes(length);
        data.copy(model, offset);
        // Background copies up run between these awaited operations and race the writes.
        await vol.write(offset, data);
      } else {
        const got = await vol.read(offset, length);
        assert.equal(sha(got), sha(model.subarray(offset, offset + length)), `read ${i} at ${offset}+${length}`);
      }
    }
    await vol.settle();
    assert.equal(sha(await vol.read(0, vol.size)), sha(model));
    const stats = vol.stats();
    assert.ok((stats.readsServedBy.nvme ?? 0) > 0, 'the hot tier served reads');
    assert.ok(stats.copiesDone > 0);
    const nvme = stats.tiers.find((t) => t.name === 'nvme');
    assert.ok(nvme && nvme.validBlocks <= 16, 'the hot tier stays within capacity');
    // The live file and the shadow copy both hold every acknowledged write.
    assert.equal(vol.failover, 'live');
    const dir = vol.config.dir;
    assert.equal(sha(await readFile(join(dir, 'live', 'vol1.img'))), sha(model));
    assert.equal(sha(await readFile(join(dir, 'shadow-hdd', 'vol1.img'))), sha(model));
  } finally {
    await vol.close();
  }
});

test('failover under load: latency far above the baseline then EIO on the live volume, zero failed I/Os, no lost data, fail back', async () => {
  // Floor 100 ms, injected latency 400 ms: far above scheduling noise on a loaded host, so only the
  // fault can fire the trigger. Phases are driven by I/O counts, not by wall-clock time.
  const vol = await testVolume({ failoverLatencyMs: 100 });
  const model = Buffer.alloc(vol.size);
  let failed = 0;
  let done = 0;
  let stop = false;
  const worker = async (seed: number): Promise<void> => {
    const rand = rng(seed);
    while (!stop) {
      const block = Math.floor(rand() * 64) + seed * 64;
      try {
        if (rand() < 0.4) {
          const data = randomBytes(4096);
          await vol.write(block * 4096, data);
          data.copy(model, block * 4096);
        } else {
          const got = await vol.read(block * 4096, 4096);
          assert.equal(sha(got), sha(model.subarray(block * 4096, block * 4096 + 4096)));
        }
        done++;
      } catch (err) {
        if (err instanceof assert.AssertionError) throw err;
        failed++;
      }
    }
  };
  const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));
  const ios = async (n: number): Promise<void> => {
    const target = done + failed + n;
    while (done + failed < target) await tick();
  };
  const workers = [0, 1, 2].map(worker);
  try {
    while (vol.stats().liveLatencyBaselineMs === null) await tick();
    await ios(30);
    assert.equal(vol.failover, 'live', vol.stats().failoverReason ?? '');
    vol.injectLiveFaults({ addedLatencyMs: 400, eio: false });
    while (vol.failover === 'live') await tick();
    assert.match(vol.stats().failoverReason ?? '', /^live latency: \d+ of the last/);
    vol.injectLiveFaults({ addedLatencyMs: 0, eio: true });
    await ios(60);
  } finally {
    stop = true;
    await Promise.all(workers);
  }
  assert.equal(failed, 0);
  vol.injectLiveFaults({ addedLatencyMs: 0, eio: false });
  await vol.failBack();
  assert.equal(vol.failover, 'live');
  await vol.close();
  assert.equal(sha(await readFile(join(vol.config.dir, 'live', 'vol1.img'))), sha(model), 'live caught up after fail-back');
});

test('an EIO from the live volume before any latency sign is absorbed by the shadow', async () => {
  const vol = await testVolume();
  try {
    const data = randomBytes(4096);
    await vol.write(4096 * 3, data);
    vol.injectLiveFaults({ addedLatencyMs: 0, eio: true });
    assert.equal(sha(await vol.read(4096 * 3, 4096)), sha(data));
    assert.equal(vol.failover, 'failed-over');
    assert.match(vol.stats().failoverReason ?? '', /EIO/);
    const more = randomBytes(100);
    await vol.write(4096 * 3 + 10, more);
    more.copy(data, 10);
    assert.equal(sha(await vol.read(4096 * 3, 4096)), sha(data));
  } finally {
    await vol.close();
  }
});

test('a write the shadow failed is never read back stale from the shadow, survives a restart, and is repaired from live', async () => {
  const vol = await testVolume({ fastTiers: [] });
  const dir = vol.config.dir;
  const old = randomBytes(4096);
  const fresh = randomBytes(4096);
  await vol.write(4096 * 5, old);
  vol.injectShadowFaults({ addedLatencyMs: 0, eio: true });
  await vol.write(4096 * 5, fresh);
  assert.equal(vol.stats().shadowStaleBlocks, 1, 'acknowledged on live, marked stale on the shadow');
  vol.failOver('drill');
  assert.equal(sha(await vol.read(4096 * 5, 4096)), sha(fresh), 'after failover the stale block still comes from live');
  vol.injectLiveFaults({ addedLatencyMs: 0, eio: true });
  await assert.rejects(vol.read(4096 * 5, 4096), /stale/, 'no up-to-date copy left: an error, never old data');
  await vol.close();

  const reopened = await Volume.open({ ...vol.config, dir });
  try {
    assert.equal(reopened.stats().shadowStaleBlocks, 1, 'the stale list outlives a restart');
    reopened.failOver('drill');
    assert.equal(sha(await reopened.read(4096 * 5, 4096)), sha(fresh));
    // The healthy live copy repairs the shadow in the background.
    for (let i = 0; i < 200 && reopened.stats().shadowStaleBlocks > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(reopened.stats().shadowStaleBlocks, 0);
    assert.equal(reopened.stats().shadowRepairs, 1);
    reopened.injectLiveFaults({ addedLatencyMs: 0, eio: true });
    assert.equal(sha(await reopened.read(4096 * 5, 4096)), sha(fresh), 'repaired: the shadow alone now serves the new data');
    assert.equal(sha(await reopened.read(4096 * 6, 4096)), sha(Buffer.alloc(4096)));
  } finally {
    await reopened.close();
  }
});

test('blocks never written are copied up too: a read-only hot set ends on the fast tier', async () => {
  const vol = await testVolume();
  try {
    for (let i = 0; i < 200; i++) await vol.read(4096 * ((i * i) % 23), 4096);
    await vol.settle();
    const hot = [0, 1, 2, 3, 4, 6, 8, 9, 12, 13, 16, 18].filter((b) => vol.isHotOn('nvme', b));
    assert.equal(hot.length, 12, `hot: ${hot.join(',')}; ${JSON.stringify(vol.stats())}`);
  } finally {
    await vol.close();
  }
});

test('bad input: ranges outside the volume and bad configuration are named', async () => {
  const vol = await testVolume();
  try {
    await assert.rejects(vol.read(vol.size - 10, 20), (e: unknown) => isCoded(e, 'SHADOWPLANE_ERR_VALIDATION'));
    await assert.rejects(vol.write(-1, Buffer.alloc(1)), (e: unknown) => isCoded(e, 'SHADOWPLANE_ERR_VALIDATION'));
    // The volume still serves after bad requests.
    assert.equal((await vol.read(0, 10)).length, 10);
  } finally {
    await vol.close();
  }
  await assert.rejects(
    Volume.open({ ...vol.config, name: 'bad name', blockSize: 1000, fastTiers: [{ profile: vol.config.live, capacityBlocks: 0 }], failoverLatencyMs: 0 }),
    (e: unknown) => {
      assert.ok(isCoded(e, 'SHADOWPLANE_ERR_VALIDATION'));
      assert.deepEqual(e.problems.map((p) => p.path), ['name', 'blockSize', 'fastTiers/0/capacityBlocks', 'failoverLatencyMs']);
      return true;
    },
  );
});

test('two fast tiers: each holds what its own predictor wants within its capacity, reads come from the fastest valid copy', async () => {
  const p = (name: string, latencyMs: number) => ({ name, latencyMs, bandwidthMiBps: 1000, costPerGiBMonth: 0.1 });
  const vol = await testVolume({ fastTiers: [{ profile: p('nvme', 0), capacityBlocks: 8 }, { profile: p('ssd', 0), capacityBlocks: 32 }] });
  const model = Buffer.alloc(vol.size);
  try {
    for (let b = 0; b < 64; b++) {
      const data = randomBytes(4096);
      data.copy(model, b * 4096);
      await vol.write(b * 4096, data);
    }
    // Loop over 24 blocks: too many for nvme (8), fits ssd (32).
    for (let round = 0; round < 6; round++) {
      for (let b = 0; b < 24; b++) {
        assert.equal(sha(await vol.read(b * 4096, 4096)), sha(model.subarray(b * 4096, (b + 1) * 4096)));
      }
      await vol.settle();
    }
    const stats = vol.stats();
    const tier = (n: string) => stats.tiers.find((t) => t.name === n);
    assert.ok((tier('nvme')?.validBlocks ?? 99) <= 8);
    assert.ok((tier('ssd')?.validBlocks ?? 99) <= 32);
    assert.ok((stats.readsServedBy.ssd ?? 0) > 0, JSON.stringify(stats.readsServedBy));
  } finally {
    await vol.close();
  }
});

test('a copy up that reads a block while a write to it is in flight never leaves a stale hot copy', async () => {
  // Regression: the write bumped the block's version before its live write landed, so a copy up
  // starting in that window read the old data under the new version and marked it valid; when its
  // hot write landed after the write-through, later reads returned the overwritten data. The two
  // gates below force exactly that interleaving on the real stores.
  const vol = await testVolume();
  try {
    const block = 5;
    const old = randomBytes(4096);
    const fresh = randomBytes(4096);
    await vol.write(block * 4096, old);
    await vol.settle();

    const live = vol['live'];
    const nvme = vol['hot'][0].store;
    let openLive!: () => void;
    const liveGate = new Promise<void>((r) => (openLive = r));
    let liveWriteReached!: () => void;
    const liveHeld = new Promise<void>((r) => (liveWriteReached = r));
    const liveWrite = live.writeBlock.bind(live);
    live.writeBlock = async (b, data, sync) => {
      liveWriteReached();
      await liveGate;
      return liveWrite(b, data, sync);
    };
    let writeDone = false;
    let oldCopyReached!: () => void;
    const reached = new Promise<void>((r) => (oldCopyReached = r));
    let openNvme!: () => void;
    const nvmeGate = new Promise<void>((r) => (openNvme = r));
    const nvmeWrite = nvme.writeBlock.bind(nvme);
    nvme.writeBlock = async (b, data, sync) => {
      // Hold a copy of the old data until the write and its write-through have finished.
      if (!writeDone && data.equals(old)) {
        oldCopyReached();
        await nvmeGate;
      }
      return nvmeWrite(b, data, sync);
    };

    const write = vol.write(block * 4096, fresh);
    await liveHeld;
    // A read while the write is in flight may see either version; it makes the policy copy the
    // block up while the live file still holds the old data.
    const during = await vol.read(block * 4096, 4096);
    assert.ok(during.equals(old) || during.equals(fresh));
    await Promise.race([reached, vol.settle()]);
    openLive();
    await write;
    writeDone = true;
    openNvme();
    await vol.settle();
    assert.equal(sha(await vol.read(block * 4096, 4096)), sha(fresh), 'read after the acknowledged write');
    assert.equal(sha(await vol.read(block * 4096, 4096)), sha(fresh), 'read again, from the hot copy if any');
  } finally {
    await vol.close();
  }
});
