import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { VirtualClock } from '../../../src/core/clock.js';
import type { TierProfile } from '../../../src/shadows/volumes/profile.js';
import { Volume } from '../../../src/shadows/volumes/volume.js';
import { until } from '../../helpers/wait.js';

// Bandwidth so high that transfers never add up to a wait: only the profiles' latencies cost time.
const p = (name: string, latencyMs: number): TierProfile => ({ name, latencyMs, bandwidthMiBps: 1e9, costPerGiBMonth: 0.1 });

test('on a virtual clock, copies up are paced and device latency is paid in the clock\'s time only', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-vol-vclock-'));
  const clock = new VirtualClock(1_700_000_000_000);
  // A budget of one 4 KiB block per 100 ms: 4096 B / 100 ms = 0.0390625 MiB/s.
  const vol = await Volume.open({
    name: 'vol1', dir, blockSize: 4096, blocks: 64, live: p('live', 0), shadow: p('hdd', 2),
    fastTiers: [{ profile: p('nvme', 0), capacityBlocks: 16 }], copyBudgetMiBps: 4096 / 100 * 1000 / 2 ** 20, failoverLatencyMs: Infinity,
  }, clock);
  try {
    for (let i = 0; i < 200; i++) await vol.read(4096 * ((i * i) % 23), 4096);
    const promoted = vol.stats().promotions;
    assert.ok(promoted >= 3, `the policy promoted blocks: ${promoted}`);
    // The first copy runs at once, then the scheduler waits 100 ms of clock time per block: however
    // long real time runs, no second copy is made until the clock moves.
    await until('the first copy', () => vol.stats().copiesDone === 1);
    await sleep(100);
    assert.equal(vol.stats().copiesDone, 1);
    clock.advance(99);
    await sleep(50);
    assert.equal(vol.stats().copiesDone, 1);
    clock.advance(1);
    await until('the second copy', () => vol.stats().copiesDone === 2);
    await sleep(50);
    assert.equal(vol.stats().copiesDone, 2);
    // Let the rest through, 100 ms of clock time at a time (blocks evicted meanwhile are skipped).
    let settled = false;
    const settling = vol.settle().then(() => { settled = true; });
    while (!settled) {
      clock.advance(100);
      await sleep(10);
    }
    await settling;
    const hot = Array.from({ length: 23 }, (_, b) => b).filter((b) => vol.isHotOn('nvme', b));
    assert.ok(hot.length > 2 && hot.length <= 16, `hot: ${hot.join(',')}`);

    // A write is durable on the shadow only after the shadow tier's 2 ms latency, on the clock.
    let written = false;
    const write = vol.write(0, Buffer.alloc(4096, 7)).then(() => { written = true; });
    await sleep(100);
    assert.equal(written, false);
    clock.advance(2);
    await write;
    assert.deepEqual(await vol.read(0, 4), Buffer.alloc(4, 7));
  } finally {
    await vol.close();
    await rm(dir, { recursive: true, force: true });
  }
});
