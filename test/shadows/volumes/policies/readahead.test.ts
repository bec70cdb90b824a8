import { test } from 'node:test';
import assert from 'node:assert/strict';
import { replay, type ReplayOptions } from '../../../../src/shadows/volumes/replay.js';
import { ioTrace } from '../../../../src/shadows/volumes/trace.js';
import { ArcPolicy } from '../../../../src/shadows/volumes/policies/arc.js';
import { POLICIES } from '../../../../src/shadows/volumes/policies/index.js';
import { Readahead, initialWindow, nextWindow, readaheadDefaults } from '../../../../src/shadows/volumes/policies/readahead.js';
import { DEFAULT_PROFILES } from '../../../../src/shadows/volumes/profile.js';

const opts = (fastBlocks: number): ReplayOptions => ({ fastBlocks, blockBytes: 512, fast: DEFAULT_PROFILES.nvme, slow: DEFAULT_PROFILES.hdd });

/** Replays with ARC + a readahead whose window sizes are recorded after every I/O. */
function withWindows(ios: [number, number][], cap: number, maxBlocks = 256) {
  const ra = new Readahead({ maxBlocks, streams: 8 });
  const sizes: number[] = [];
  const result = replay(ioTrace(ios), (tier) => {
    const arc = new ArcPolicy(tier, [ra], 'arc-ra');
    return {
      name: arc.name,
      access(io) {
        arc.access(io);
        const s = ra.state().at(-1);
        if (s !== undefined && s.size > 0 && s.size !== sizes.at(-1)) sizes.push(s.size);
      },
    };
  }, opts(cap));
  return { result, sizes, ra };
}

test("window sizes follow Linux's get_init_ra_size and get_next_ra_size", () => {
  assert.equal(initialWindow(1, 256), 4);
  assert.equal(initialWindow(8, 256), 32);
  assert.equal(initialWindow(16, 256), 32);
  assert.equal(initialWindow(100, 256), 256);
  assert.equal(nextWindow(4, 256), 16);
  assert.equal(nextWindow(16, 256), 32);
  assert.equal(nextWindow(128, 256), 256);
  assert.equal(nextWindow(256, 256), 256);
  assert.deepEqual(readaheadDefaults(512), { maxBlocks: 256, streams: 32 });
  assert.deepEqual(readaheadDefaults(4096), { maxBlocks: 32, streams: 32 });
});

test('a sequential stream grows the window 4x, then 2x, up to the maximum; every I/O after the second hits', () => {
  const walk: [number, number][] = [];
  for (let i = 0; i < 600; i++) walk.push([1000 + i, 1]);
  const { result, sizes } = withWindows(walk, 4096);
  assert.deepEqual(sizes, [4, 16, 32, 64, 128, 256]);
  // The first I/O is random (read as is), the second is the sequential miss that opens the window.
  assert.equal(result.hits, 598);
  assert.ok(result.promotionsBy.readahead > 500);
  // ARC alone never copies ahead: every I/O of a first walk misses.
  assert.equal(replay(ioTrace(walk), POLICIES.arc, opts(4096)).hits, 0);
});

test('random access copies nothing ahead, and a stream broken by a jump starts over small', () => {
  const random: [number, number][] = [];
  for (let i = 0; i < 200; i++) random.push([(i * 7919) % 100_003 * 10, 2]);
  assert.equal(withWindows(random, 512).result.promotionsBy.readahead, 0);
  // A stream grows to 128 (window opened at I/O 53), jumps away (a fresh stream, no window), then
  // walks again from 4.
  const jump: [number, number][] = [];
  for (let i = 0; i < 60; i++) jump.push([i, 1]);
  for (let i = 0; i < 10; i++) jump.push([50_000 + i, 1]);
  const { sizes } = withWindows(jump, 4096);
  assert.deepEqual(sizes, [4, 16, 32, 64, 128, 4, 16, 32]);
});

test('interleaved streams each keep their own window, capped at the maximum', () => {
  const ios: [number, number][] = [];
  for (let i = 0; i < 300; i++) ios.push([i * 4, 4], [1_000_000 + i * 4, 4]);
  const { result, ra } = withWindows(ios, 8192, 64);
  for (const s of ra.state()) assert.ok(s.size <= 64);
  // Each stream misses its first two I/Os only.
  assert.equal(result.hits, 600 - 4);
  assert.equal(result.promotionsBy.demand, 4 * 4);
});
