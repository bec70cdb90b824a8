import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../../src/core/version.js';
import { replay, type ReplayOptions } from '../../../src/shadows/volumes/replay.js';
import { blockRequests, readBlockTrace } from '../../../src/shadows/volumes/trace.js';
import { POLICIES, POLICY_NAMES } from '../../../src/shadows/volumes/policies/index.js';
import { DEFAULT_PROFILES } from '../../../src/shadows/volumes/profile.js';

// The excerpts live beside the test sources (tsc copies no CSV into dist/).
const FIXTURES = join(PACKAGE_ROOT, 'test', 'shadows', 'volumes', 'fixtures');
const opts = (fastBlocks: number): ReplayOptions => ({ fastBlocks, blockBytes: 512, fast: DEFAULT_PROFILES.nvme, slow: DEFAULT_PROFILES.hdd });

test('OLTP excerpt: every line is one block, so the I/O and block units agree for every policy', async () => {
  const ios = await readBlockTrace(join(FIXTURES, 'arc-OLTP-excerpt.lis'), 'arc');
  assert.equal(ios.start.length, 4000);
  assert.equal(ios.timed, false);
  const blocks = blockRequests(ios, 'arc');
  for (const name of POLICY_NAMES) {
    const io = replay(ios, POLICIES[name], opts(200));
    const bl = replay(blocks, POLICIES[name], { ...opts(200), unit: 'block' });
    assert.equal(io.hits, bl.hits, name);
    assert.equal(io.promotions, bl.promotions, name);
  }
});

test('CloudPhysics excerpt: multi-block I/Os; MIN-demand copies least among demand policies; prediction is counted apart', async () => {
  const ios = await readBlockTrace(join(FIXTURES, 'cloudPhysicsIO-excerpt.csv'), 'cloudphysics');
  assert.equal(ios.start.length, 3000);
  assert.equal(ios.timed, true);
  const r = Object.fromEntries(POLICY_NAMES.map((n) => [n, replay(ios, POLICIES[n], opts(4000))]));
  for (const n of ['lru', 'arc'] as const) assert.ok(r[n].promotions >= r['min-demand'].promotions, n);
  for (const n of ['lru', 'arc', 'min', 'min-demand'] as const) assert.equal(r[n].promotionsBy.demand, r[n].promotions, n);
  assert.ok(r['arc-ra'].promotionsBy.readahead > 0);
  assert.equal(r['arc-ra'].promotionsBy.forecast, 0);
  assert.equal(r['shadowplane-noforecast'].promotionsBy.forecast, 0);
  // The block unit counts one request per row for this format, as published simulators do.
  assert.equal(blockRequests(ios, 'cloudphysics').start.length, 3000);
});
