/** Small helpers shared by the benchmarks. */

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
