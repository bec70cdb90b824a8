/** Small helpers shared by the benchmarks. */
import { readFileSync } from 'node:fs';

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
 * lines (file paths shortened to what follows `dist/` or `node_modules/`).
 */
export function topSelfTime(profileFile: string, n = 25): string[] {
  const profile = JSON.parse(readFileSync(profileFile, 'utf8')) as CpuProfile;
  const frameOf = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const selfUs = new Map<string, number>();
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    const frame = frameOf.get(id)!;
    const file = frame.url.replace(/^.*\/(dist|node_modules)\//, '').replace(/^file:\/\//, '');
    const name = `${frame.functionName || '(anonymous)'} ${file}${file ? `:${frame.lineNumber + 1}` : ''}`;
    const us = profile.timeDeltas[i] ?? 0;
    selfUs.set(name, (selfUs.get(name) ?? 0) + us);
    totalUs += us;
  });
  return [...selfUs.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([name, us]) => `${(us / 1000).toFixed(0).padStart(8)} ms ${((100 * us) / totalUs).toFixed(1).padStart(5)} %  ${name}`);
}
