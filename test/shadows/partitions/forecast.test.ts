import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mulberry32 } from '../../../src/core/random.js';
import { dampedTrend, PartitionForecaster } from '../../../src/shadows/partitions/forecast.js';

describe('partition forecasts', () => {
  it('damped trend continues a ramp, flattens by φ, stays flat on flat data and never goes negative', () => {
    const up = dampedTrend([0.1, 0.2, 0.3, 0.4], 3, 6, 0.5);
    assert.deepEqual(up.map((x) => Math.round(x * 1000) / 1000), [0.45, 0.475, 0.488]);
    assert.deepEqual(dampedTrend([0.3, 0.3, 0.3], 2), [0.3, 0.3]);
    assert.deepEqual(dampedTrend([0.4, 0.2, 0], 3, 6, 1), [0, 0, 0]);
    assert.deepEqual(dampedTrend([], 2), [0, 0]);
    assert.deepEqual(dampedTrend([0.7], 2), [0.7, 0.7]);
  });

  it('sees a ramp crossing 75 % within the horizon windows before the engine alone does, without firing on noise', () => {
    const rand = mulberry32(7);
    const f = new PartitionForecaster(1);
    const noise = () => (rand() - 0.5) * 0.08;
    const first = { combined: -1, engine: -1 };
    const falseAlarms = { combined: 0 };
    for (let i = 0; i < 80; i++) {
      // 40 flat windows at 0.3, then +0.04 per window.
      const u = 0.3 + Math.max(0, i - 40) * 0.04 + noise();
      f.observe([u]);
      const combined = Math.max(...f.forecast(0, 4));
      const engine = Math.max(...f.engine(0, 4));
      if (i < 40 && combined > 0.75) falseAlarms.combined++;
      if (i >= 40 && first.combined < 0 && combined > 0.75) first.combined = i;
      if (i >= 40 && first.engine < 0 && engine > 0.75) first.engine = i;
    }
    assert.equal(falseAlarms.combined, 0);
    assert.ok(first.combined > 40, `combined fired at ${first.combined}`);
    assert.ok(first.engine < 0 || first.combined < first.engine, `combined ${first.combined}, engine ${first.engine}`);
    assert.ok(f.fits >= 1 && f.fits < 80, `fits ${f.fits}: the engine is refitted on its schedule, not every window`);
  });

  it('refuses bad settings, naming the field', () => {
    assert.throws(() => new PartitionForecaster(1, { damping: 0 }), /damping/);
    assert.throws(() => new PartitionForecaster(1, { trendWindows: 1 }), /trendWindows/);
  });
});
