/**
 * Where the NAB points are won and lost, file by file: runs the single-signal component detector
 * (the code `shadowplane detect` runs, with its handling of repeated and out-of-order timestamps)
 * in-process over every nab-dev file, scores with NAB v1.1 rules (the same rules as the
 * independent scorer bench/detect/nab.ts calls; this port is for speed and per-file detail) and
 * prints per file: windows found (and how early), windows missed, alarms outside windows.
 *
 * Run: npx tsx bench/detect/nab-files.ts --data DIR [--threshold 0.5] [--config JSON] [--quiet]
 * (`--config` is a partial univariate config, e.g. '{"alarm":{"surprise50":7}}'.)
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { ComponentDetector } from '../../src/detect/component.js';
import { parseTimestamp } from '../../src/cli/detect.js';

const args = process.argv.slice(2);
function flag(name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}
const dataArg = flag('--data') ?? process.env.SHADOWPLANE_NAB_DIR;
if (!dataArg) {
  process.stderr.write('bench/detect/nab-files.ts needs the folder of NAB series (nab-dev): pass --data PATH or set SHADOWPLANE_NAB_DIR\n');
  process.exit(2);
}
const dataDir = resolve(dataArg);
const threshold = Number(flag('--threshold') ?? 0.5);
const config = JSON.parse(flag('--config') ?? '{}') as Record<string, unknown>;
const quiet = args.includes('--quiet');

/** NAB v1.1 profiles: (A_TP, A_FP, A_FN). */
const PROFILES: Record<string, [number, number, number]> = {
  standard: [1, 0.11, 1],
  lowFP: [1, 0.22, 1],
  lowFN: [1, 0.11, 2],
};

function sigma(y: number): number {
  return y > 3 ? -1 : 2 / (1 + Math.exp(5 * y)) - 1;
}

interface FileRows {
  rel: string;
  scores: Float64Array;
  /** Per row: window id (-1 outside), unweighted value, scorable (after probation). */
  win: Int32Array;
  value: Float64Array;
  ok: Uint8Array;
  windows: number;
}

function csvFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? csvFiles(p) : name.endsWith('.csv') ? [p] : [];
  });
}

function runFile(path: string): { stamps: string[]; scores: Float64Array } {
  const lines = readFileSync(path, 'utf8').trim().split('\n').slice(1);
  const det = new ComponentDetector('input', ['value'], { univariate: config, smoothingHalfLife: 0 });
  const scores = new Float64Array(lines.length);
  const stamps: string[] = [];
  let lastT = -Infinity;
  lines.forEach((line, i) => {
    const [ts, v] = line.split(',');
    stamps.push(ts.trim());
    const t = parseTimestamp(ts);
    if (!(t > lastT)) return;
    lastT = t;
    const x = Number(v);
    scores[i] = det.step(t, [x]);
  });
  return { stamps, scores };
}

function rowsOf(rel: string, stamps: string[], scores: Float64Array, spans: [string, string][]): FileRows {
  const index = new Map<string, number>();
  stamps.forEach((s, i) => index.set(s, i));
  const at = (s: string) => index.get(s.replace(/\.\d+$/, ''))!;
  const n = stamps.length;
  const prob = Math.min(Math.floor(0.15 * n), 750);
  const starts = new Map(spans.map(([a, b], k) => [at(a), [at(a), at(b), k] as const]));
  const win = new Int32Array(n), value = new Float64Array(n), ok = new Uint8Array(n);
  const maxTp = sigma(-1);
  let cur: readonly [number, number, number] | undefined;
  let prevR = -1, prevW = 0;
  for (let i = 0; i < n; i++) {
    if (!cur) cur = starts.get(i);
    ok[i] = i >= prob ? 1 : 0;
    if (cur) {
      const [L, R, k] = cur;
      win[i] = k;
      value[i] = sigma(-(R - i + 1) / (R - L + 1)) / maxTp;
      if (i === R) {
        prevR = R;
        prevW = R - L + 1;
        cur = undefined;
      }
    } else {
      win[i] = -1;
      value[i] = prevR < 0 ? -1 : sigma(Math.abs(prevR - i) / (prevW - 1));
    }
  }
  return { rel, scores, win, value, ok, windows: spans.length };
}

/** Corpus score at threshold `thr` for one profile, with per-file detail. */
function scoreAt(files: FileRows[], [aTp, aFp, aFn]: [number, number, number], thr: number) {
  let total = 0;
  const detail = files.map((f) => {
    const best = new Map<number, number>();
    let fp = 0, fpCost = 0;
    for (let i = 0; i < f.scores.length; i++) {
      if (!f.ok[i]) continue;
      const k = f.win[i];
      if (k >= 0) {
        if (!best.has(k)) best.set(k, -aFn);
        if (f.scores[i] >= thr) best.set(k, Math.max(best.get(k)!, f.value[i] * aTp));
      } else if (f.scores[i] >= thr) {
        fp++;
        fpCost += f.value[i] * aFp;
      }
    }
    const wins = [...best.values()];
    const s = fpCost + wins.reduce((a, b) => a + b, 0);
    total += s;
    return { rel: f.rel, s, fp, fpCost, wins };
  });
  return { total, detail };
}

/** The corpus-optimised threshold (NAB's sweep: every distinct score, ties to the higher). */
function optimise(files: FileRows[], [aTp, aFp, aFn]: [number, number, number]): [number, number] {
  const pts: { s: number; w: number; v: number }[] = [];
  const windows = new Set<number>();
  files.forEach((f, fi) => {
    for (let i = 0; i < f.scores.length; i++) {
      if (!f.ok[i]) continue;
      const w = f.win[i] >= 0 ? fi * 1000 + f.win[i] : -1;
      if (w >= 0) windows.add(w);
      pts.push({ s: f.scores[i], w, v: f.value[i] * (w >= 0 ? aTp : aFp) });
    }
  });
  pts.sort((a, b) => b.s - a.s);
  const best = new Map<number, number>([...windows].map((w) => [w, -aFn]));
  let win = -aFn * windows.size, fp = 0;
  let top: [number, number] = [1.1, win];
  for (let i = 0; i < pts.length; ) {
    const t = pts[i].s;
    for (; i < pts.length && pts[i].s === t; i++) {
      const p = pts[i];
      if (p.w < 0) fp += p.v;
      else if (p.v > best.get(p.w)!) {
        win += p.v - best.get(p.w)!;
        best.set(p.w, p.v);
      }
    }
    if (win + fp > top[1]) top = [t, win + fp];
  }
  return top;
}

const labels = JSON.parse(readFileSync(join(dataDir, 'labels', 'combined_windows.json'), 'utf8')) as Record<string, [string, string][]>;
const files = csvFiles(join(dataDir, 'data')).sort().map((p) => {
  const rel = relative(join(dataDir, 'data'), p);
  const { stamps, scores } = runFile(p);
  return rowsOf(rel, stamps, scores, labels[rel] ?? []);
});
const nWindows = files.reduce((a, f) => a + f.windows, 0);
const norm = (raw: number, [aTp, , aFn]: [number, number, number]) => (100 * (raw + aFn * nWindows)) / (aTp * nWindows + aFn * nWindows);

const line: string[] = [];
for (const [name, p] of Object.entries(PROFILES)) {
  const [thr, raw] = optimise(files, p);
  const fixed = scoreAt(files, p, threshold).total;
  line.push(`${name} ${norm(raw, p).toFixed(2)} (thr ${thr.toFixed(3)}) / ${norm(fixed, p).toFixed(2)} at ${threshold}`);
}
if (!quiet) {
  const { detail } = scoreAt(files, PROFILES.standard, threshold);
  console.log(`per file at ${threshold} (standard): score, alarms outside windows (cost), windows (value of the first alarm, -1 = missed)`);
  for (const d of detail) {
    console.log(`${d.rel.padEnd(52)} ${d.s.toFixed(2).padStart(6)}  fp ${String(d.fp).padStart(3)} (${d.fpCost.toFixed(2)})  ${d.wins.map((w) => w.toFixed(2)).join(' ')}`);
  }
}
console.log(line.join(' | '));
