/**
 * Point-wise evaluation without point-adjust: precision/recall/F1 at a threshold, best F1 over the
 * reference script's threshold grid, event-wise recall with detection delay, and attribution hit
 * rate against interpretation labels.
 */
import type { Interpretation } from './data.js';
import { quantileSorted } from '../../src/core/quantile.js';

/** Precision, recall and F1 of `score >= threshold` against labels. */
export interface Prf {
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  readonly threshold: number;
}

/** Point-wise P/R/F1 at one threshold (flag = score >= threshold). */
export function prfAt(score: ArrayLike<number>, labels: Uint8Array, threshold: number): Prf {
  let tp = 0, fp = 0, pos = 0;
  for (let i = 0; i < labels.length; i++) {
    const flag = score[i] >= threshold;
    if (labels[i]) {
      pos++;
      if (flag) tp++;
    } else if (flag) fp++;
  }
  const precision = tp / Math.max(tp + fp, 1);
  const recall = tp / Math.max(pos, 1);
  const f1 = tp > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1, threshold };
}

/** Best point-wise F1 over thresholds at the quantiles linspace(0.5, 1, 2000) of the scores (as baselines.py). */
export function bestF1(score: ArrayLike<number>, labels: Uint8Array, grid = 2000): Prf {
  const sorted = Float64Array.from(score).sort();
  const pos: number[] = [], neg: number[] = [];
  for (let i = 0; i < labels.length; i++) (labels[i] ? pos : neg).push(score[i]);
  const sp = Float64Array.from(pos).sort(), sn = Float64Array.from(neg).sort();
  const countGe = (arr: Float64Array, t: number): number => {
    let lo = 0, hi = arr.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (arr[mid] < t) lo = mid + 1;
      else hi = mid;
    }
    return arr.length - lo;
  };
  let best: Prf = { precision: 0, recall: 0, f1: 0, threshold: Infinity };
  let prev = NaN;
  for (let g = 0; g < grid; g++) {
    const t = quantileSorted(sorted, 0.5 + (0.5 * g) / (grid - 1));
    if (t === prev) continue;
    prev = t;
    const tp = countGe(sp, t), fp = countGe(sn, t);
    const precision = tp / Math.max(tp + fp, 1), recall = tp / Math.max(sp.length, 1);
    const f1 = tp > 0 ? (2 * precision * recall) / (precision + recall) : 0;
    if (f1 > best.f1) best = { precision, recall, f1, threshold: t };
  }
  return best;
}

/** Labelled segments [start, end) of a 0/1 label vector. */
export function segments(labels: Uint8Array): [number, number][] {
  const out: [number, number][] = [];
  let start = -1;
  for (let i = 0; i <= labels.length; i++) {
    const v = i < labels.length ? labels[i] : 0;
    if (v && start < 0) start = i;
    if (!v && start >= 0) {
      out.push([start, i]);
      start = -1;
    }
  }
  return out;
}

/** Event-wise recall (a segment is found if any of its points is flagged) and mean delay in points. */
export function eventRecall(score: ArrayLike<number>, labels: Uint8Array, threshold: number): { found: number; total: number; meanDelay: number } {
  const segs = segments(labels);
  let found = 0, delay = 0;
  for (const [a, b] of segs) {
    for (let i = a; i < b; i++) {
      if (score[i] >= threshold) {
        found++;
        delay += i - a;
        break;
      }
    }
  }
  return { found, total: segs.length, meanDelay: found ? delay / found : NaN };
}

/**
 * Attribution hit rate: over every point of every interpretation segment, the share of true causal
 * metrics among the top-|truth| ranked metrics (HitRate@100%), averaged over points.
 * `rank(i, out)` fills out[d] with metric d's attribution weight at test row i.
 */
export function hitRate(interp: Interpretation[], dims: number, rank: (row: number, out: Float64Array) => void, factor = 1): number {
  const w = new Float64Array(dims);
  let sum = 0, n = 0;
  for (const seg of interp) {
    const truth = new Set(seg.metrics);
    const k = Math.max(1, Math.floor(truth.size * factor));
    for (let i = seg.start; i < seg.end; i++) {
      rank(i, w);
      const order = Array.from({ length: dims }, (_, d) => d).sort((a, b) => w[b] - w[a]);
      let hits = 0;
      for (let j = 0; j < k; j++) if (truth.has(order[j])) hits++;
      sum += hits / truth.size;
      n++;
    }
  }
  return n ? sum / n : NaN;
}
