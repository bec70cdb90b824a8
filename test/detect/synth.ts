/** Deterministic synthetic series for the detector tests. */
import { mulberry32 as rng } from '../../src/core/random.js';

export { rng };

/** Seeded standard normal generator (Box-Muller). */
export function gauss(seed: number): () => number {
  const u = rng(seed);
  return () => Math.sqrt(-2 * Math.log(u() + 1e-12)) * Math.cos(2 * Math.PI * u());
}

export const MIN = 60_000;
export const T0 = Date.UTC(2026, 0, 1);
