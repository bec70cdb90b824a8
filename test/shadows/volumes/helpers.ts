/** Shared set-up for the volume tests: a volume in a fresh temp directory with fast test profiles. */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Volume, type VolumeConfig } from '../../../src/shadows/volumes/volume.js';
import type { TierProfile } from '../../../src/shadows/volumes/profile.js';

const p = (name: string, latencyMs: number, costPerGiBMonth: number): TierProfile => ({ name, latencyMs, bandwidthMiBps: 1000, costPerGiBMonth });

/** Opens a volume with small, quick tiers; `over` replaces any config field. */
export async function testVolume(over: Partial<VolumeConfig> = {}): Promise<Volume> {
  const dir = await mkdtemp(join(tmpdir(), 'sp-vol-'));
  return Volume.open({
    name: 'vol1',
    dir,
    blockSize: 4096,
    blocks: 256,
    live: p('live', 0, 0.08),
    shadow: p('hdd', 2, 0.025),
    fastTiers: [{ profile: p('nvme', 0, 0.125), capacityBlocks: 16 }],
    copyBudgetMiBps: 64,
    // Latency trigger off: on a loaded machine only tests about that trigger may depend on timing,
    // and they turn it on with a fault far above any scheduling noise.
    failoverLatencyMs: Infinity,
    ...over,
  });
}
