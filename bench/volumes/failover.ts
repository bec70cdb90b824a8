/**
 * Failover under load: 4 clients issue 4 KiB reads (70 %) and writes (30 %) against a volume with
 * reference profiles (live ssd, shadow hdd, nvme hot tier); after a warm-up the live device's
 * latency rises (+40 ms), then it returns EIO (failover: the baseline-relative latency trigger
 * with a 20 ms floor). Prints client-seen latency per phase (median, p99, max), failed I/Os, and
 * when failover happened. Run: `npx tsx bench/volumes/failover.ts`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Volume } from '../../src/shadows/volumes/volume.js';
import { DEFAULT_PROFILES } from '../../src/shadows/volumes/profile.js';

const dir = await mkdtemp(join(tmpdir(), 'sp-failover-'));
const vol = await Volume.open({
  name: 'bench',
  dir,
  blockSize: 4096,
  blocks: 4096,
  live: DEFAULT_PROFILES.ssd,
  shadow: DEFAULT_PROFILES.hdd,
  fastTiers: [{ profile: DEFAULT_PROFILES.nvme, capacityBlocks: 512 }],
  copyBudgetMiBps: 50,
  failoverLatencyMs: 20,
});
type Phase = 'healthy' | 'degrading' | 'failed-over' | 'eio';
let phase: Phase = 'healthy';
const lat: Record<Phase, number[]> = { healthy: [], degrading: [], 'failed-over': [], eio: [] };
let failed = 0;
let stop = false;
let seed = 1;
const client = async (): Promise<void> => {
  let s = seed++ * 7919;
  const rand = (): number => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  while (!stop) {
    // Skewed: 80 % of I/O on 10 % of the blocks, so the hot tier has something to hold.
    const block = rand() < 0.8 ? Math.floor(rand() * 410) : Math.floor(rand() * 4096);
    // Attributed to the phase at the I/O's start: "degrading" = issued after the fault, before failover.
    const at: Phase = phase === 'degrading' && vol.failover === 'failed-over' ? 'failed-over' : phase;
    const t0 = performance.now();
    try {
      if (rand() < 0.3) await vol.write(block * 4096, randomBytes(4096));
      else await vol.read(block * 4096, 4096);
      lat[at].push(performance.now() - t0);
    } catch {
      failed++;
    }
  }
};
const clients = [client(), client(), client(), client()];
const wait = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
await wait(3000);
// On a loaded host the detector can fire without a fault; report it and start the drill from live.
const falseFailover = vol.stats().failoverReason;
if (falseFailover !== null) await vol.failBack();
phase = 'degrading';
const t0 = performance.now();
vol.injectLiveFaults({ addedLatencyMs: 40, eio: false });
while (vol.failover === 'live') await wait(1);
const detectMs = performance.now() - t0;
await wait(2000);
phase = 'eio';
vol.injectLiveFaults({ addedLatencyMs: 0, eio: true });
await wait(2000);
stop = true;
await Promise.all(clients);
const q = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN;
};
console.log(`failover during the healthy warm-up (no fault): ${falseFailover ?? 'none'}`);
console.log(`failover ${detectMs.toFixed(0)} ms after the latency fault; reason: ${vol.stats().failoverReason}`);
console.log('phase         ios   median ms  p99 ms   max ms');
for (const [name, xs] of Object.entries(lat)) {
  console.log(`${name.padEnd(12)} ${String(xs.length).padStart(5)}  ${q(xs, 0.5).toFixed(2).padStart(9)}  ${q(xs, 0.99).toFixed(2).padStart(6)}  ${Math.max(...xs).toFixed(2).padStart(7)}`);
}
console.log(`failed I/Os: ${failed}; reads served by ${JSON.stringify(vol.stats().readsServedBy)}`);
await vol.close();
await rm(dir, { recursive: true, force: true });
