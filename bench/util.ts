/** Small helpers shared by the benchmarks. */
import { readFileSync } from 'node:fs';
import net from 'node:net';

/** The median of `values` (NaN when empty). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * A data location the benchmarks read but the repository does not ship: the value of the
 * environment variable `name`, else the process exits naming the variable and what it must hold.
 */
export function dataFromEnv(name: string, what: string): string {
  const value = process.env[name];
  if (value) return value;
  process.stderr.write(`${name} is not set: it must name ${what} (not shipped with the repository; see examples/data/README.md)\n`);
  process.exit(2);
}

/** A V8 CPU profile as `node --cpu-prof` writes it (the fields read here). */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

/**
 * The `n` functions with the most self time in a `.cpuprofile` file, as `ms  share  name file:line`
 * lines (file paths shortened to what follows `dist/` or `node_modules/`): over the whole profile,
 * then over its longest stretch without an idle sample (what held the thread in its worst stall).
 */
export function topSelfTime(profileFile: string, n = 25): string[] {
  const profile = JSON.parse(readFileSync(profileFile, 'utf8')) as CpuProfile;
  const frameOf = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const names = profile.samples.map((id) => {
    const frame = frameOf.get(id)!;
    const file = frame.url.replace(/^.*\/(dist|node_modules)\//, '').replace(/^file:\/\//, '');
    return `${frame.functionName || '(anonymous)'} ${file}${file ? `:${frame.lineNumber + 1}` : ''}`;
  });
  const deltas = profile.samples.map((_, i) => profile.timeDeltas[i] ?? 0);
  // the longest run of samples none of which is idle
  let worst = { from: 0, to: 0, us: 0 };
  for (let i = 0, from = 0, us = 0; i < names.length; i++) {
    if (names[i].startsWith('(idle)')) {
      from = i + 1;
      us = 0;
      continue;
    }
    us += deltas[i];
    if (us > worst.us) worst = { from, to: i + 1, us };
  }
  const top = (from: number, to: number): string[] => {
    const selfUs = new Map<string, number>();
    let totalUs = 0;
    for (let i = from; i < to; i++) {
      selfUs.set(names[i], (selfUs.get(names[i]) ?? 0) + deltas[i]);
      totalUs += deltas[i];
    }
    return [...selfUs.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, us]) => `${(us / 1000).toFixed(0).padStart(8)} ms ${((100 * us) / totalUs).toFixed(1).padStart(5)} %  ${name}`);
  };
  return [...top(0, names.length), `longest stretch without idle: ${(worst.us / 1000).toFixed(0)} ms`, ...top(worst.from, worst.to)];
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`; rejects after `ms`. */
export async function waitPort(port: number, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise<boolean>((done) => {
      const socket = net.connect(port, '127.0.0.1', () => { socket.destroy(); done(true); });
      socket.on('error', () => done(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`port ${port} did not open within ${ms} ms`);
}

/** The ratio of paired runs `with / without`: its median and a 95 % bootstrap interval of that median. */
export interface PairedRatio {
  pairs: number;
  median: number;
  low: number;
  high: number;
}

/**
 * Median of the per-pair ratios `with[i] / without[i]` and its 95 % percentile-bootstrap interval
 * (10,000 resamples, a fixed seed so the same runs give the same interval). Pairs, not the two
 * medians, because a shared machine's speed drifts: each pair's two runs share their moment.
 */
export function pairedRatio(withIt: readonly number[], without: readonly number[]): PairedRatio {
  const ratios = withIt.map((w, i) => w / without[i]);
  let seed = 0x9e3779b9;
  const random = (): number => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const medians: number[] = [];
  for (let b = 0; b < 10_000; b++) medians.push(median(ratios.map(() => ratios[Math.floor(random() * ratios.length)])));
  medians.sort((a, b) => a - b);
  return { pairs: ratios.length, median: median(ratios), low: medians[249], high: medians[9_749] };
}
