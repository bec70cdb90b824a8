/**
 * Evaluation of the component detector on SMD (8 machines) and ASD (12 services), with the
 * baselines of the smd-baselines script (and a nearest-neighbour distance) run on the same rows
 * in the same process.
 *
 * Protocol (what a live system gets): each entity's detector starts cold, streams the whole
 * training part (its warm-up plus history), then streams the test part without a reset, still
 * learning. The alert threshold is fixed from the training part only: the `TRAIN_QUANTILE`
 * quantile of the training scores (after warm-up) times `TRAIN_MARGIN`. Scores are point-wise,
 * never point-adjusted. Best-threshold F1 (oracle, as in the literature) is shown for reference.
 * The baselines' rule uses all of their training scores; the same rule on the second half only
 * (as the detector gets it) is printed next to it, so the comparison can be read both ways.
 *
 * Run: npx tsx bench/detect/smd.ts [--json out.json] [--only SMD|ASD] [--dump DIR (per-entity scores)]
 * DETECT_CONFIG='{"topK":2}' overrides component knobs for experiments.
 */
import { writeFileSync } from 'node:fs';
import { ComponentDetector } from '../../src/detect/component.js';
import type { ComponentConfig } from '../../src/detect/component.js';
import { entities, loadEntity } from './data.js';
import type { Entity } from './data.js';
import { quantileSorted } from '../../src/core/quantile.js';
import { bestF1, prfAt, eventRecall, hitRate } from './metrics.js';
import type { Prf } from './metrics.js';
import { randomBaseline, zmaxBaseline, pcaBaseline, nearestNeighbourBaseline } from './baselines.js';
import type { BaselineScores } from './baselines.js';

/** The train-only threshold rule: quantile of training scores, times a margin. */
export const TRAIN_QUANTILE = Number(process.env.TRAIN_QUANTILE ?? 0.99);
export const TRAIN_MARGIN = Number(process.env.TRAIN_MARGIN ?? 1);
/** The detector's own default alert threshold (calibrated score), evaluated without any fitting. */
export const FIXED_THRESHOLD = Number(process.env.FIXED_THRESHOLD ?? 0.5);
/** Name of the comparison run of the same detector with `calibration: null`. */
const UNCALIBRATED = 'shadowplane-uncal';
/** Share of the training part streamed before scores are collected for the threshold. */
export const TRAIN_CALIBRATION_START = Number(process.env.TRAIN_CALIBRATION_START ?? 0.5);

interface Row {
  dataset: string;
  entity: string;
  detector: string;
  train: Prf;
  /**
   * Baselines only: the same rule on the scores of the second half of their training part, as the
   * detector gets it (the baselines' own rule uses all of it, since they are fitted on it).
   */
  trainHalf?: Prf;
  /** At FIXED_THRESHOLD (shadowplane only: the baselines' scores have no calibrated scale). */
  fixed?: Prf;
  best: Prf;
  events: { found: number; total: number; meanDelay: number };
  hitRate: number;
  hitRate150: number;
  seconds: number;
}

function trainThreshold(train: Float64Array): number {
  const sorted = Float64Array.from(train).sort();
  return quantileSorted(sorted, TRAIN_QUANTILE) * TRAIN_MARGIN;
}

function runDetector(e: Entity, name: string, config: Partial<ComponentConfig>): BaselineScores & { seconds: number } {
  const start = process.hrtime.bigint();
  const signals = Array.from({ length: e.dims }, (_, j) => `m${j + 1}`);
  const det = new ComponentDetector(e.name, signals, { ...config, univariate: { stepMs: e.stepMs, ...config.univariate } });
  const trainScores: number[] = [];
  let t = 0;
  // Threshold statistics come from the second half of training only: the first half is the
  // detector's own learning period, whose transients say nothing about steady-state scores.
  const calibrateFrom = Math.floor(e.train.length * TRAIN_CALIBRATION_START);
  e.train.forEach((r, i) => {
    det.step(t, r);
    if (det.ready && i >= calibrateFrom) trainScores.push(det.score);
    t += e.stepMs;
  });
  const test = new Float64Array(e.test.length);
  const z = new Float32Array(e.test.length * e.dims);
  const buf = new Float64Array(e.dims);
  for (let i = 0; i < e.test.length; i++) {
    test[i] = det.step(t, e.test[i]);
    det.metricZ(buf);
    z.set(buf, i * e.dims);
    t += e.stepMs;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  return {
    name,
    train: Float64Array.from(trainScores),
    test,
    seconds,
    attribution: (row, out) => {
      for (let j = 0; j < e.dims; j++) out[j] = z[row * e.dims + j];
    },
  };
}

function evaluate(e: Entity, s: BaselineScores, seconds: number): Row {
  const thr = trainThreshold(s.train);
  const rank = s.attribution;
  const ours = s.name.startsWith('shadowplane');
  return {
    dataset: e.dataset,
    entity: e.name,
    detector: s.name,
    train: prfAt(s.test, e.labels, thr),
    trainHalf: ours ? undefined : prfAt(s.test, e.labels, trainThreshold(s.train.subarray(Math.floor(s.train.length * TRAIN_CALIBRATION_START)))),
    fixed: ours ? prfAt(s.test, e.labels, FIXED_THRESHOLD) : undefined,
    best: bestF1(s.test, e.labels),
    events: eventRecall(s.test, e.labels, thr),
    hitRate: rank ? hitRate(e.interpretation, e.dims, rank, 1) : NaN,
    hitRate150: rank ? hitRate(e.interpretation, e.dims, rank, 1.5) : NaN,
    seconds,
  };
}

const f3 = (x: number): string => (Number.isFinite(x) ? x.toFixed(3) : '—');
const mean = (xs: number[]): number => {
  const v = xs.filter((x) => Number.isFinite(x));
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
};

function main(): void {
  const args = process.argv.slice(2);
  const jsonOut = args.includes('--json') ? args[args.indexOf('--json') + 1] : undefined;
  const dump = args.includes('--dump') ? args[args.indexOf('--dump') + 1] : undefined;
  const only = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
  const config = JSON.parse(process.env.DETECT_CONFIG ?? '{}') as Partial<ComponentConfig>;
  const rows: Row[] = [];
  for (const ds of ['SMD', 'ASD'] as const) {
    if (only && only !== ds) continue;
    for (const name of entities(ds)) {
      const e = loadEntity(ds, name);
      const ours = runDetector(e, 'shadowplane', config);
      if (dump) writeFileSync(`${dump}/${ds}-${name}.json`, JSON.stringify({ train: Array.from(ours.train), test: Array.from(ours.test), labels: Array.from(e.labels) }));
      rows.push(evaluate(e, ours, ours.seconds));
      // The same detector without score calibration (fixed z map), for comparison in the same run.
      const raw = runDetector(e, UNCALIBRATED, { ...config, calibration: null });
      rows.push(evaluate(e, raw, raw.seconds));
      for (const make of [randomBaseline, zmaxBaseline, pcaBaseline, nearestNeighbourBaseline]) {
        const start = process.hrtime.bigint();
        const b = make(e.train, e.test);
        rows.push(evaluate(e, b, Number(process.hrtime.bigint() - start) / 1e9));
      }
      const r = rows.filter((x) => x.entity === name);
      process.stderr.write(
        `${ds} ${name} ` + r.map((x) => `${x.detector} F1train=${f3(x.train.f1)}${x.fixed ? ` F1fixed=${f3(x.fixed.f1)}` : ''} best=${f3(x.best.f1)}`).join(' | ') + '\n',
      );
    }
  }
  const dets = ['shadowplane', UNCALIBRATED, 'random', 'max-z', 'pca', '1-nn'];
  console.log(`threshold rule: quantile ${TRAIN_QUANTILE} of training scores x ${TRAIN_MARGIN}; config ${JSON.stringify(config)}\n`);
  console.log(`| set | entity | detector | P (train thr) | R | F1 (train thr) | F1 (score >= ${FIXED_THRESHOLD}) | best F1 | events found | mean delay (steps) | HitRate@100% | @150% |`);
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(
      `| ${r.dataset} | ${r.entity} | ${r.detector} | ${f3(r.train.precision)} | ${f3(r.train.recall)} | ${f3(r.train.f1)} | ${f3(r.fixed?.f1 ?? NaN)} | ${f3(r.best.f1)} | ${r.events.found}/${r.events.total} | ${Number.isFinite(r.events.meanDelay) ? r.events.meanDelay.toFixed(1) : '—'} | ${f3(r.hitRate)} | ${f3(r.hitRate150)} |`,
    );
  }
  console.log(`\n| set | detector | mean P | mean R | mean F1 (train thr) | mean F1 (score >= ${FIXED_THRESHOLD}) | mean best F1 | event recall | mean delay | HitRate@100% | @150% |`);
  console.log('|---|---|---|---|---|---|---|---|---|---|---|');
  for (const ds of ['SMD', 'ASD']) {
    for (const d of dets) {
      const sel = rows.filter((r) => r.dataset === ds && r.detector === d);
      if (!sel.length) continue;
      const found = sel.reduce((a, r) => a + r.events.found, 0), total = sel.reduce((a, r) => a + r.events.total, 0);
      console.log(
        `| ${ds} | ${d} | ${f3(mean(sel.map((r) => r.train.precision)))} | ${f3(mean(sel.map((r) => r.train.recall)))} | ${f3(mean(sel.map((r) => r.train.f1)))} | ${f3(mean(sel.map((r) => r.fixed?.f1 ?? NaN)))} | ${f3(mean(sel.map((r) => r.best.f1)))} | ${found}/${total} | ${f3(mean(sel.map((r) => r.events.meanDelay)))} | ${f3(mean(sel.map((r) => r.hitRate)))} | ${f3(mean(sel.map((r) => r.hitRate150)))} |`,
      );
    }
    const pca = rows.filter((r) => r.dataset === ds && r.detector === 'pca');
    // 1-NN is left out: its training scores are already those of the second half.
    for (const d of ['max-z', 'pca']) {
      const sel = rows.filter((r) => r.dataset === ds && r.detector === d);
      if (sel.length) console.log(`${ds} ${d} with its threshold from the second half of training: mean F1 ${f3(mean(sel.map((r) => r.trainHalf!.f1)))}; per entity ${sel.map((r) => `${r.entity} ${f3(r.trainHalf!.f1)}`).join(', ')}`);
    }
    for (const d of ['shadowplane', UNCALIBRATED]) {
      const ours = rows.filter((r) => r.dataset === ds && r.detector === d);
      const below = ours.filter((r, i) => r.train.f1 < pca[i].train.f1).map((r) => r.entity);
      const belowBest = ours.filter((r, i) => r.best.f1 < pca[i].best.f1).map((r) => r.entity);
      const belowHalf = ours.filter((r, i) => r.train.f1 < pca[i].trainHalf!.f1).map((r) => r.entity);
      if (ours.length) {
        console.log(
          `\n${ds} ${d}: below PCA (train thr): ${below.join(', ') || 'none'}; below PCA with its threshold from the second half of training too: ${belowHalf.join(', ') || 'none'}; below PCA (best F1): ${belowBest.join(', ') || 'none'}`,
        );
      }
    }
  }
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(rows, null, 1));
}

main();
