/** Storage tier profiles: what a tier costs and how fast it is. Plain data, shared by the harness and the volume service. */

/** The performance and price of one storage tier. */
export interface TierProfile {
  /** Tier name, e.g. `nvme`. */
  readonly name: string;
  /** Added service latency per request, in milliseconds. */
  readonly latencyMs: number;
  /** Sustained transfer rate, in MiB per second. */
  readonly bandwidthMiBps: number;
  /** Price of capacity, in dollars per GiB per month. */
  readonly costPerGiBMonth: number;
}

/** Reference profiles (public list prices and typical device figures, rounded). */
export const DEFAULT_PROFILES: Readonly<Record<'nvme' | 'ssd' | 'hdd' | 'object', TierProfile>> = {
  nvme: { name: 'nvme', latencyMs: 0.1, bandwidthMiBps: 2000, costPerGiBMonth: 0.125 },
  ssd: { name: 'ssd', latencyMs: 0.5, bandwidthMiBps: 500, costPerGiBMonth: 0.08 },
  hdd: { name: 'hdd', latencyMs: 8, bandwidthMiBps: 150, costPerGiBMonth: 0.025 },
  object: { name: 'object', latencyMs: 30, bandwidthMiBps: 100, costPerGiBMonth: 0.01 },
};

/** Milliseconds a tier needs to move `bytes`: its latency plus the transfer time. */
export function serviceTimeMs(profile: TierProfile, bytes: number): number {
  return profile.latencyMs + (bytes / (profile.bandwidthMiBps * 1024 * 1024)) * 1000;
}
