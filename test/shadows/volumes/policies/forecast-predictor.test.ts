import { test } from 'node:test';
import assert from 'node:assert/strict';
import { replay, type ReplayOptions } from '../../../../src/shadows/volumes/replay.js';
import { ioTrace } from '../../../../src/shadows/volumes/trace.js';
import { ArcPolicy } from '../../../../src/shadows/volumes/policies/arc.js';
import { ForecastPredictor } from '../../../../src/shadows/volumes/policies/forecast-predictor.js';
import { DEFAULT_PROFILES } from '../../../../src/shadows/volumes/profile.js';

const opts = (fastBlocks: number): ReplayOptions => ({ fastBlocks, blockBytes: 512, fast: DEFAULT_PROFILES.nvme, slow: DEFAULT_PROFILES.hdd });

/**
 * Five days of hourly traffic: each hour 30 scattered 4-block I/Os, each issued twice (so ARC keeps
 * them as frequent, and they fill the tier), and at 09:00 each day 60 reads of a 16-block table
 * (blocks 0..15, extent 0).
 */
function dailyTrace(): { trace: ReturnType<typeof ioTrace>; isTable: boolean[] } {
  let s = 12345;
  const rand = (): number => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  const ios: [number, number, number][] = [];
  const isTable: boolean[] = [];
  for (let hour = 0; hour < 5 * 24; hour++) {
    const t0 = hour * 3600;
    const scattered = Array.from({ length: 30 }, () => 1000 + Math.floor(rand() * 50_000) * 4);
    for (let i = 0; i < 60; i++) {
      ios.push([scattered[i % 30], 4, t0 + i * 30]);
      isTable.push(false);
      if (hour % 24 === 9) {
        ios.push([(i * 5) % 16, 1, t0 + i * 30 + 1]);
        isTable.push(true);
      }
    }
  }
  return { trace: ioTrace(ios), isTable };
}

function run(withForecast: boolean) {
  const { trace, isTable } = dailyTrace();
  let predictor: ForecastPredictor | undefined;
  const perDay = [0, 0, 0, 0, 0];
  replay(trace, (tier) => {
    predictor = new ForecastPredictor(tier.capacity, { bucket: 3600, seasons: [86_400], candidates: 8, method: 'snaive' });
    const arc = new ArcPolicy(tier, withForecast ? [predictor] : []);
    return {
      name: arc.name,
      access(io) {
        if (isTable[io.t] && tier.has(io.start)) perDay[Math.floor(io.time / 86_400)]++;
        arc.access(io);
      },
    };
  }, opts(256));
  return { perDay, stats: (predictor as ForecastPredictor).stats };
}

test('a table read every day at 09:00 is on the fast tier before its first read once the daily season is fitted', () => {
  const plain = run(false);
  const fc = run(true);
  // ARC alone: the scattered traffic flushes the table every day, so each day's first read of each
  // of its 16 blocks misses: 60 - 16 hits a day.
  assert.deepEqual(plain.perDay, [44, 44, 44, 44, 44]);
  // With the forecast the table is copied up at the 09:00 bucket boundary, before its first read,
  // from day 4 on: the engine uses a season only with two full cycles besides its holdout.
  assert.deepEqual(fc.perDay, [44, 44, 44, 60, 60]);
  assert.ok(fc.stats.promotedExtents >= 2);
  // After 09:00 the table is forecast to cool and demoted (it becomes ARC's first eviction choice).
  assert.ok(fc.stats.demotedExtents >= 2);
});
