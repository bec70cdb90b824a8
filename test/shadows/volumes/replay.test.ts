import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { replay, type ReplayOptions } from '../../../src/shadows/volumes/replay.js';
import { blockRequests, ioTrace, readBlockTrace, parseTraceLine } from '../../../src/shadows/volumes/trace.js';
import { POLICIES, POLICY_NAMES } from '../../../src/shadows/volumes/policies/index.js';
import { ArcPolicy } from '../../../src/shadows/volumes/policies/arc.js';
import { shadowplanePolicy } from '../../../src/shadows/volumes/policies/shadowplane.js';
import type { FastTier, PolicyFactory } from '../../../src/shadows/volumes/policies/policy.js';
import { DEFAULT_PROFILES } from '../../../src/shadows/volumes/profile.js';
import { isCoded } from '../../../src/core/errors.js';
import { PACKAGE_ROOT } from '../../../src/core/version.js';

const opts = (fastBlocks: number): ReplayOptions => ({ fastBlocks, blockBytes: 512, fast: DEFAULT_PROFILES.nvme, slow: DEFAULT_PROFILES.hdd });
/** One-block I/Os, the literature's unit. */
const blocks = (b: readonly number[]) => ioTrace(b.map((x) => [x, 1] as const));
const run = (b: readonly number[], name: keyof typeof POLICIES, n: number) => replay(blocks(b), POLICIES[name], opts(n));

test('per-I/O accounting on a hand-worked trace (LRU, 4 blocks)', () => {
  // [0,2) miss -> {0,1}; [0,2) hit; [1,3) misses block 2; [0,3) hit; [5,7) miss, evicts 0;
  // [0,2): 0 missing (1 is resident on arrival, but the I/O misses) -> 2 hits of 6 I/Os, 7 copies.
  const trace = ioTrace([[0, 2], [0, 2], [1, 2], [0, 3], [5, 2], [0, 2]]);
  const io = replay(trace, POLICIES.lru, opts(4));
  assert.equal(io.unit, 'io');
  assert.equal(io.requests, 6);
  assert.equal(io.hits, 2);
  assert.equal(io.promotions, 7);
  assert.deepEqual(io.promotionsBy, { demand: 7, readahead: 0, forecast: 0 });
  // The same trace block by block: 13 requests; hits 2 + 1 (block 1 of [1,3)) + 3 = 6, same 7 copies.
  const bl = replay(blockRequests(trace, 'arc'), POLICIES.lru, { ...opts(4), unit: 'block' });
  assert.equal(bl.unit, 'block');
  assert.equal(bl.requests, 13);
  assert.equal(bl.hits, 6);
  assert.equal(bl.promotions, 7);
});

test('an I/O is decided on arrival: what it brings up serves the next I/O, not itself', () => {
  // A 3-block I/O repeated: the first misses entirely, then every repeat hits.
  const r = replay(ioTrace([[9, 3], [9, 3], [9, 3]]), POLICIES.arc, opts(8));
  assert.equal(r.hits, 2);
  assert.equal(r.promotions, 3);
  // An I/O larger than the tier can never hit, and the tier is never overfilled.
  assert.equal(replay(ioTrace([[0, 5], [0, 5]]), POLICIES.lru, opts(4)).hits, 0);
});

test('MIN at I/O granularity on a hand-worked trace', () => {
  // 4 blocks: [0,2) [2,4) miss and fill; [0,2) hits; [4,6) is never used again: MIN declines it,
  // so [2,4) and [0,2) hit: 3 hits, 4 copies. MIN-demand copies 4,5 over 0,1 (used furthest
  // ahead, both), so only [2,4) hits afterwards: 2 hits. LRU evicts 2,3 then 0,1: 1 hit.
  const trace = ioTrace([[0, 2], [2, 2], [0, 2], [4, 2], [2, 2], [0, 2]]);
  const min = replay(trace, POLICIES.min, opts(4));
  assert.equal(min.hits, 3);
  assert.equal(min.promotions, 4);
  assert.equal(replay(trace, POLICIES['min-demand'], opts(4)).hits, 2);
  assert.equal(replay(trace, POLICIES.lru, opts(4)).hits, 1);
});

test('LRU on a hand-worked trace', () => {
  // cap 2: 1m 2m 3m(-1) 1m(-2) 4m(-3) 1h 2m(-4) -> one hit, six promotions
  const r = run([1, 2, 3, 1, 4, 1, 2], 'lru', 2);
  assert.equal(r.hits, 1);
  assert.equal(r.promotions, 6);
});

test("Belady's MIN: the textbook string has 7 faults with 3 frames", () => {
  const trace = [1, 2, 3, 4, 1, 2, 5, 1, 2, 3, 4, 5];
  assert.equal(run(trace, 'min-demand', 3).hits, 5);
  // Declining the copy can only help: MIN with bypass is at least as good.
  assert.ok(run(trace, 'min', 3).hits >= 5);
});

test('ARC keeps a frequently used block through a scan that flushes LRU', () => {
  const trace: number[] = [];
  for (let i = 0; i < 20; i++) trace.push(1, 2, 1, 2);
  for (let i = 100; i < 110; i++) trace.push(i);
  trace.push(1, 2);
  const lru = run(trace, 'lru', 4);
  const arc = run(trace, 'arc', 4);
  assert.ok(arc.hits > lru.hits, `arc ${arc.hits} lru ${lru.hits}`);
});

const smallTrace = fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 400 });
const smallIoTrace = fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 6 })), { minLength: 1, maxLength: 200 });

test('demand policies never beat MIN, MIN with bypass never loses to MIN, all respect capacity', () => {
  fc.assert(
    fc.property(smallTrace, fc.integer({ min: 1, max: 12 }), (trace, cap) => {
      const min = run(trace, 'min-demand', cap).hits;
      for (const name of ['lru', 'arc'] as const) assert.ok(run(trace, name, cap).hits <= min);
      assert.ok(run(trace, 'min', cap).hits >= min);
      // The harness throws if any policy overfills the tier; running each is the check.
      for (const name of POLICY_NAMES) run(trace, name, cap);
    }),
    { numRuns: 150 },
  );
});

test('multi-block I/Os: no demand policy copies fewer blocks than MIN-demand; every policy respects capacity', () => {
  fc.assert(
    fc.property(smallIoTrace, fc.integer({ min: 1, max: 16 }), (ios, cap) => {
      const trace = ioTrace(ios);
      const min = replay(trace, POLICIES['min-demand'], opts(cap)).promotions;
      for (const name of ['lru', 'arc'] as const) assert.ok(replay(trace, POLICIES[name], opts(cap)).promotions >= min);
      for (const name of POLICY_NAMES) replay(trace, POLICIES[name], opts(cap));
    }),
    { numRuns: 150 },
  );
});

test("ARC's directory invariants hold on every step", () => {
  fc.assert(
    fc.property(smallTrace, fc.integer({ min: 1, max: 10 }), (trace, cap) => {
      let arc: ArcPolicy | undefined;
      const factory: PolicyFactory = (tier: FastTier) => (arc = new ArcPolicy(tier));
      const checking: PolicyFactory = (tier, ctx) => {
        const inner = factory(tier, ctx);
        return {
          name: inner.name,
          access(io) {
            inner.access(io);
            const [t1, t2, b1, b2] = (arc as ArcPolicy).sizes();
            assert.equal(t1 + t2, tier.size());
            assert.ok(t1 + t2 <= cap && t1 + b1 <= cap && t1 + t2 + b1 + b2 <= 2 * cap);
            assert.ok((arc as ArcPolicy).target >= 0 && (arc as ArcPolicy).target <= cap);
          },
        };
      };
      replay(blocks(trace), checking, opts(cap));
    }),
    { numRuns: 150 },
  );
});

test('shadowplane sees only the past: its hits on a shared prefix do not depend on the suffix', () => {
  fc.assert(
    fc.property(smallIoTrace, smallIoTrace, smallIoTrace, fc.integer({ min: 1, max: 12 }), (prefix, a, b, cap) => {
      const hitsOnPrefix = (suffix: [number, number][]): boolean[] => {
        const seen: boolean[] = [];
        const factory: PolicyFactory = (tier) => {
          // Short buckets so the forecast part acts within the prefix too.
          const p = shadowplanePolicy(tier, { forecast: { bucket: 5, seasons: [] } });
          return {
            name: p.name,
            access: (io) => {
              let hit = true;
              for (let x = io.start; x < io.start + io.count; x++) hit &&= tier.has(x);
              seen.push(hit);
              p.access(io);
            },
          };
        };
        replay(ioTrace([...prefix, ...suffix]), factory, opts(cap));
        return seen.slice(0, prefix.length);
      };
      assert.deepEqual(hitsOnPrefix(a), hitsOnPrefix(b));
    }),
    { numRuns: 100 },
  );
});

test('shadowplane predicts an in-order walk and reports the prefetches as promotions', () => {
  const trace: number[] = [];
  for (let pass = 0; pass < 3; pass++) for (let i = 0; i < 100; i++) trace.push(1000 + i);
  const arc = run(trace, 'arc', 10);
  const sp = run(trace, 'shadowplane', 10);
  assert.equal(arc.hits, 0);
  // Block 1000+i+1 is copied up after 1000+i: every request but the first two of each pass hits.
  assert.equal(sp.hits, 3 * 98);
  assert.ok(sp.promotionsBy.readahead > 0 && sp.promotions > sp.promotionsBy.readahead);
});

test('prediction is an addition to the one ARC: with run depth 0 and no forecast, shadowplane replays exactly as ARC', async () => {
  const trace = await readBlockTrace(join(PACKAGE_ROOT, 'test', 'shadows', 'volumes', 'fixtures', 'arc-OLTP-excerpt.lis'), 'arc');
  for (const n of [100, 500]) {
    const arc = replay(trace, (tier) => new ArcPolicy(tier), opts(n));
    const plain = replay(trace, (tier) => shadowplanePolicy(tier, { run: { depth: 0 }, forecast: null }), opts(n));
    assert.deepEqual([plain.hits, plain.promotions], [arc.hits, arc.promotions]);
    assert.equal(plain.promotionsBy.readahead + plain.promotionsBy.forecast, 0);
  }
});

test('replay rejects a non-positive size', () => {
  assert.throws(() => run([1], 'lru', 0), (e: unknown) => isCoded(e, 'SHADOWPLANE_ERR_VALIDATION'));
});

test('trace lines: one line is one I/O; the block unit expands arc ranges and takes cloudphysics lbn; bad lines are named', async () => {
  assert.deepEqual(parseTraceLine('arc', '10 3 0 7'), { start: 10, count: 3, time: undefined });
  assert.deepEqual(parseTraceLine('cloudphysics', '1,5633898,2a,6656,42'), { start: 42, count: 13, time: 5633898 });
  assert.equal(parseTraceLine('arc', '  '), undefined);
  assert.match(String(parseTraceLine('arc', '10 0 0 0')), /nblocks/);
  assert.match(String(parseTraceLine('cloudphysics', '1,2,3')), /5 fields/);
  assert.match(String(parseTraceLine('cloudphysics', '1,2,28,0,5')), /size/);
  const arcIo = ioTrace([[10, 3], [20, 1]]);
  assert.deepEqual([...blockRequests(arcIo, 'arc').start], [10, 11, 12, 20]);
  assert.deepEqual([...blockRequests(arcIo, 'cloudphysics').start], [10, 20]);
  const dir = await mkdtemp(join(tmpdir(), 'sp-trace-'));
  const csv = join(dir, 't.csv');
  await writeFile(csv, 'version,time,op,size,lbn\n1,1,28,512,5\n1,2,28,512,-1\n1,3,28,512,6\n');
  await assert.rejects(readBlockTrace(csv, 'cloudphysics'), (e: unknown) => {
    assert.ok(isCoded(e, 'SHADOWPLANE_ERR_INPUT_FILE'));
    assert.deepEqual(e.problems.map((p) => p.path), ['line 3']);
    return true;
  });
  await writeFile(csv, 'version,time,op,size,lbn\n1,1,28,512,5\n1,3,28,1024,6\n');
  const t = await readBlockTrace(csv, 'cloudphysics');
  assert.deepEqual([...t.start], [5, 6]);
  assert.deepEqual([...t.count], [1, 2]);
  assert.deepEqual([...t.time], [1, 3]);
  assert.equal(t.timed, true);
  await assert.rejects(readBlockTrace(join(dir, 'missing'), 'arc'), (e: unknown) => isCoded(e, 'SHADOWPLANE_ERR_INPUT_FILE'));
});

/** The ARC paper's OLTP trace (2.4 MB, not shipped): only through SHADOWPLANE_BLOCKTRACES, the directory holding it. */
const OLTP = process.env.SHADOWPLANE_BLOCKTRACES ? join(process.env.SHADOWPLANE_BLOCKTRACES, 'arc-OLTP.lis.zst') : undefined;
const haveZstd = (() => {
  try {
    execFileSync('zstd', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

test('harness semantics reproduce the published OLTP figures at 1k blocks', { skip: OLTP === undefined ? 'the OLTP block trace is not shipped: set SHADOWPLANE_BLOCKTRACES=DIR (holding arc-OLTP.lis.zst) to run this check' : haveZstd || process.env.CI === 'true' ? false : 'zstd missing (Debian zstd)' }, async () => {
  const trace = blockRequests(await readBlockTrace(OLTP!, 'arc'), 'arc');
  assert.equal(trace.start.length, 914145);
  const pct = (name: keyof typeof POLICIES) => Math.round(replay(trace, POLICIES[name], opts(1000)).hitRatio * 10000) / 100;
  assert.equal(pct('lru'), 32.83);
  assert.equal(pct('arc'), 38.95);
  assert.equal(pct('min'), 53.62);
});

test('copy lag: a copy made while serving request t serves requests from t+1+lag on', () => {
  const trace = blocks([5, 5, 5, 5]);
  const withLag = (copyLag: number) => replay(trace, POLICIES.lru, { ...opts(2), copyLag }).hits;
  assert.equal(withLag(0), 3);
  assert.equal(withLag(1), 2);
  assert.equal(withLag(2), 1);
  assert.throws(() => replay(trace, POLICIES.lru, { ...opts(2), copyLag: -1 }), (e: unknown) => isCoded(e, 'SHADOWPLANE_ERR_VALIDATION'));
  // Prediction looks copyLag+1 blocks ahead, so an in-order walk still hits despite the lag.
  const walk: number[] = [];
  for (let pass = 0; pass < 2; pass++) for (let i = 0; i < 100; i++) walk.push(1000 + i);
  const sp = replay(blocks(walk), POLICIES.shadowplane, { ...opts(16), copyLag: 3 });
  assert.ok(sp.hitRatio > 0.9, `hit ratio ${sp.hitRatio}`);
});
