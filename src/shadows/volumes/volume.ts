/**
 * A shadowed block volume: a live backing file, a complete shadow copy on a cheap tier, and hot
 * copies on faster tiers placed by the predictive policy.
 *
 * Guarantees:
 * - A write is acknowledged only after it is durable (fdatasync) on the live file and on the
 *   complete shadow copy; after failover, on the shadow alone. Hot copies of the block are
 *   invalidated before the write starts and rewritten after it, so no read returns stale data.
 * - If only the shadow write fails, the write is still acknowledged (durable on live) and its blocks
 *   are recorded as stale on the shadow in a small file beside it before the acknowledgement; they
 *   are never read from the shadow, even after failover, until a background repair rewrites them
 *   from live.
 * - Copies up never start while a write to the block is in flight (the live file may still hold the
 *   old data under the new version), and their hot write runs on the write chain after a last
 *   version check, so a copy can neither mark old data valid nor overwrite a newer write-through.
 * - Each read is served from the fastest valid copy; a live error is retried on the shadow, so the
 *   client never sees it, and it triggers failover.
 * - Hot-copy validity lives in memory only: after a restart reads come from live/shadow until the
 *   policy copies blocks up again (never stale, at worst slower).
 *
 * The volume composes the read router and failover state (`routing.ts`), the stale list
 * (`stale-list.ts`) and its repair (`repair.ts`), the hot tiers (`placement.ts`) with their copy-up
 * scheduler (`copy-up.ts`), and the cost report (`cost.ts`); it owns the durable write path. It
 * reads time only through the Clock it is given.
 */
import { copyFile, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { realClock, type Clock } from '../../core/clock.js';
import { ShadowplaneError } from '../../core/errors.js';
import { CopyUpScheduler } from './copy-up.js';
import { tierCosts, type TierCost } from './cost.js';
import { LatencyTrigger, type LatencyTriggerOptions } from './latency-trigger.js';
import { hotTier, type HotTier } from './placement.js';
import type { TierProfile } from './profile.js';
import { ShadowRepair } from './repair.js';
import { LiveHealth, ReadRouter, type FailoverState } from './routing.js';
import { StaleList } from './stale-list.js';
import { TierStore, type Faults } from './tier-store.js';

export type { FailoverState } from './routing.js';

/** A fast tier's configuration: its profile and how many blocks it may hold. */
export interface FastTierConfig {
  readonly profile: TierProfile;
  readonly capacityBlocks: number;
}

/** Configuration of one volume. */
export interface VolumeConfig {
  /** Export name (NBD) and API key; letters, digits, `-` and `_`. */
  readonly name: string;
  /** Directory holding `live/`, the shadow tier's and each fast tier's directory. */
  readonly dir: string;
  readonly blockSize: number;
  readonly blocks: number;
  /** Profile of the live volume's device. */
  readonly live: TierProfile;
  /** The cheap tier holding the complete shadow copy. */
  readonly shadow: TierProfile;
  /** Faster tiers holding hot copies, fastest first. */
  readonly fastTiers: readonly FastTierConfig[];
  /** Budget for copies up, in MiB/s; copies beyond it wait, and are dropped when the queue is full. */
  readonly copyBudgetMiBps: number;
  /**
   * Floor of the latency trigger, in ms: the volume fails over before errors appear when most
   * recent live I/Os are several times slower than the device's learned baseline *and* slower
   * than this (see LatencyTrigger). Infinity turns the latency trigger off; errors still fail over.
   */
  readonly failoverLatencyMs: number;
  /** The rest of the latency trigger (factor over the baseline, window, slow I/Os that fire it); LATENCY_TRIGGER_DEFAULTS for what is not given. */
  readonly failoverTrigger?: Partial<LatencyTriggerOptions>;
}

/** Counters and placement for the API. */
export interface VolumeStats {
  readonly name: string;
  readonly blockSize: number;
  readonly blocks: number;
  readonly state: FailoverState;
  readonly failoverReason: string | null;
  readonly liveLatencyEwmaMs: number;
  /** The live device's learned latency baseline (null while learning). */
  readonly liveLatencyBaselineMs: number | null;
  /** Live I/O time above which an I/O counts as slow for the latency trigger. */
  readonly liveSlowThresholdMs: number | null;
  readonly liveErrors: number;
  readonly reads: number;
  readonly writes: number;
  readonly readsServedBy: Record<string, number>;
  readonly promotions: number;
  readonly copiesDone: number;
  readonly copiesDiscarded: number;
  readonly copiesDropped: number;
  /** Blocks whose shadow copy is stale: their last write reached live but not the shadow. */
  readonly shadowStaleBlocks: number;
  /** Stale shadow blocks rewritten from live since start. */
  readonly shadowRepairs: number;
  readonly tiers: TierCost[];
  readonly hottest: { block: number; reads: number }[];
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** A shadowed volume; create with `Volume.open`. */
export class Volume {
  private t = 0;
  private reads = 0;
  private writes = 0;
  private readonly versions = new Map<number, number>();
  /** Blocks whose write is in flight: bumped versions whose data may not be on any copy yet. */
  private readonly writing = new Set<number>();
  private readonly heat = new Map<number, number>();
  private readonly dirtyWhileFailed = new Set<number>();
  private writeChain: Promise<unknown> = Promise.resolve();
  private readonly health: LiveHealth;
  private readonly router: ReadRouter;
  private readonly repair: ShadowRepair;
  private readonly copies: CopyUpScheduler;
  private readonly hot: HotTier[] = [];

  private constructor(
    readonly config: VolumeConfig,
    private readonly clock: Clock,
    private readonly live: TierStore,
    private readonly shadow: TierStore,
    /** Blocks acknowledged while the shadow write failed (live succeeded): never read from the shadow until repaired. */
    private readonly stale: StaleList,
  ) {
    const exclusive = <T>(fn: () => Promise<T>): Promise<T> => this.exclusive(fn);
    this.health = new LiveHealth(new LatencyTrigger(config.failoverLatencyMs, config.failoverTrigger));
    this.router = new ReadRouter({ clock, health: this.health, live, shadow, hot: this.hot, staleOnShadow: (b) => stale.has(b) });
    this.repair = new ShadowRepair({ clock, stale, live, shadow, exclusive });
    this.copies = new CopyUpScheduler({
      clock, blockSize: config.blockSize, budgetMiBps: config.copyBudgetMiBps, read: (b) => this.router.read(b), exclusive,
      versionOf: (b) => this.versionOf(b), writing: (b) => this.writing.has(b),
    });
  }

  /**
   * Opens a volume, creating the live file and the shadow copy if missing (the first shadow copy
   * is seeded by a bulk file copy). Fails with SHADOWPLANE_ERR_VALIDATION naming the bad field.
   * Time (device emulation, latency measurement, copy pacing, repair retries, the policy's
   * forecast buckets) is read from `clock`.
   */
  static async open(config: VolumeConfig, clock: Clock = realClock): Promise<Volume> {
    const problems: { path: string; message: string }[] = [];
    if (!NAME.test(config.name)) problems.push({ path: 'name', message: 'must be 1-64 letters, digits, - or _' });
    if (!Number.isInteger(config.blockSize) || config.blockSize < 512 || config.blockSize % 512 !== 0)
      problems.push({ path: 'blockSize', message: 'must be a multiple of 512' });
    if (!Number.isInteger(config.blocks) || config.blocks < 1) problems.push({ path: 'blocks', message: 'must be a positive integer' });
    config.fastTiers.forEach((t, i) => {
      if (!Number.isInteger(t.capacityBlocks) || t.capacityBlocks < 1)
        problems.push({ path: `fastTiers/${i}/capacityBlocks`, message: 'must be a positive integer' });
    });
    if (!(config.copyBudgetMiBps > 0)) problems.push({ path: 'copyBudgetMiBps', message: 'must be positive' });
    if (!(config.failoverLatencyMs > 0)) problems.push({ path: 'failoverLatencyMs', message: 'must be positive (Infinity turns the latency trigger off)' });
    else {
      try {
        new LatencyTrigger(config.failoverLatencyMs, config.failoverTrigger);
      } catch (err) {
        problems.push({ path: 'failoverTrigger', message: (err as Error).message });
      }
    }
    if (problems.length > 0) throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', `volume ${config.name} is misconfigured`, problems);

    const file = `${config.name}.img`;
    const live = await TierStore.open(config.live, join(config.dir, 'live'), file, config.blockSize, config.blocks, Infinity, clock);
    const shadowDir = join(config.dir, `shadow-${config.shadow.name}`);
    const shadowPath = join(shadowDir, file);
    const seeded = await stat(shadowPath).then(
      () => true,
      () => false,
    );
    if (!seeded) {
      await mkdir(shadowDir, { recursive: true });
      await copyFile(live.path, shadowPath);
    }
    const shadowStore = await TierStore.open(config.shadow, shadowDir, file, config.blockSize, config.blocks, Infinity, clock);
    const stale = await StaleList.load(join(shadowDir, `${config.name}.stale.json`));
    const vol = new Volume(config, clock, live, shadowStore, stale);
    if (stale.size > 0) vol.repair.schedule(0);
    for (const t of config.fastTiers) {
      const store = await TierStore.open(t.profile, join(config.dir, `tier-${t.profile.name}`), file, config.blockSize, config.blocks, t.capacityBlocks, clock);
      vol.hot.push(hotTier(store, t.capacityBlocks, config.blockSize, (tier, b) => vol.copies.enqueue(tier, b)));
    }
    return vol;
  }

  /** Size in bytes. */
  get size(): number {
    return this.config.blocks * this.config.blockSize;
  }

  /** Current failover state. */
  get failover(): FailoverState {
    return this.health.state;
  }

  private checkRange(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', `range ${offset}+${length} is outside the volume (${this.size} bytes)`, [
        { path: 'offset', message: `offset+length must be within 0..${this.size}` },
      ]);
    }
  }

  /** Routes all I/O to the shadow from now on (idempotent). */
  failOver(reason: string): void {
    this.health.failOver(reason);
  }

  /**
   * Returns I/O to the live volume after copying back every block written while failed over.
   * Fails (and stays failed over) if the live volume still errors.
   */
  async failBack(): Promise<void> {
    await this.exclusive(async () => {
      for (const b of this.dirtyWhileFailed) {
        await this.live.writeBlock(b, await this.shadow.readBlock(b), false);
      }
      await this.live.sync();
      this.dirtyWhileFailed.clear();
      this.health.failBack();
    });
  }

  /** Sets faults on the live device (tests and drills). */
  injectLiveFaults(faults: Faults): void {
    this.live.faults = faults;
  }

  /** Sets faults on the complete shadow copy (tests and drills). */
  injectShadowFaults(faults: Faults): void {
    this.shadow.faults = faults;
  }

  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.writeChain.then(fn, fn);
    this.writeChain = run.catch(() => undefined);
    return run;
  }

  /** Tells each hot tier's policy about one read I/O of `count` blocks from `start`. */
  private observe(start: number, count: number): void {
    const t = this.t++;
    for (let b = start; b < start + count; b++) this.heat.set(b, (this.heat.get(b) ?? 0) + 1);
    const io = { t, start, count, time: this.clock.now() / 1000 };
    for (const h of this.hot) h.policy.access(io);
  }

  /** Reads `length` bytes at `offset`. Fails with SHADOWPLANE_ERR_VALIDATION outside the volume. */
  async read(offset: number, length: number): Promise<Buffer> {
    this.checkRange(offset, length);
    this.reads++;
    const bs = this.config.blockSize;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + length - 1) / bs);
    const parts: Promise<Buffer>[] = [];
    for (let b = first; b <= last && length > 0; b++) parts.push(this.router.read(b));
    if (length > 0) this.observe(first, last - first + 1);
    const whole = Buffer.concat(await Promise.all(parts));
    return whole.subarray(offset - first * bs, offset - first * bs + length);
  }

  /**
   * Writes `data` at `offset`, durable on the live file and the complete shadow before it resolves
   * (on the shadow alone after failover). Fails with EIO only when no durable copy could be written.
   */
  async write(offset: number, data: Buffer): Promise<void> {
    this.checkRange(offset, data.length);
    if (data.length === 0) return;
    this.writes++;
    const bs = this.config.blockSize;
    await this.exclusive(async () => {
      const first = Math.floor(offset / bs);
      const last = Math.floor((offset + data.length - 1) / bs);
      // Partial head and tail blocks are merged with their current content; the run is then
      // written as one I/O with one fdatasync per copy.
      const run = Buffer.alloc((last - first + 1) * bs);
      if (offset % bs !== 0) (await this.router.read(first)).copy(run, 0);
      if ((offset + data.length) % bs !== 0 && (last > first || offset % bs === 0)) (await this.router.read(last)).copy(run, (last - first) * bs);
      data.copy(run, offset - first * bs);
      await this.writeRun(first, run);
    });
  }

  private async writeRun(first: number, run: Buffer): Promise<void> {
    const bs = this.config.blockSize;
    const count = run.length / bs;
    const versions: number[] = [];
    for (let i = 0; i < count; i++) {
      const b = first + i;
      versions.push(this.versionOf(b) + 1);
      this.versions.set(b, versions[i]);
      this.writing.add(b);
      for (const h of this.hot) h.store.valid.delete(b);
    }
    try {
      await this.writeBlocks(first, run, versions);
    } finally {
      for (let i = 0; i < count; i++) this.writing.delete(first + i);
    }
  }

  /** Writes the run to live and the shadow at once; which of the two made it durable. Throws EIO when neither did. */
  private async writeDurably(first: number, run: Buffer): Promise<{ liveOk: boolean; shadowOk: boolean }> {
    const toLive = async (): Promise<boolean> => {
      if (this.health.state !== 'live') return false;
      const t0 = this.clock.monotonic();
      try {
        await this.live.writeBlock(first, run, false);
        // Health is judged on the device's service time; the fdatasync below is filesystem-wide
        // and on a shared machine says more about neighbours than about this device.
        this.health.note(this.clock.monotonic() - t0, true, '');
        await this.live.sync();
        return true;
      } catch (err) {
        this.health.note(this.clock.monotonic() - t0, false, (err as Error).message);
        return false;
      }
    };
    const toShadow = this.shadow.writeBlock(first, run, true).then(
      () => true,
      () => false,
    );
    const [liveOk, shadowOk] = await Promise.all([toLive(), toShadow]);
    if (!liveOk && !shadowOk) {
      const count = run.length / this.config.blockSize;
      const err = new Error(`no durable copy of blocks ${first}..${first + count - 1} could be written`) as Error & { code: string };
      err.code = 'EIO';
      throw err;
    }
    return { liveOk, shadowOk };
  }

  /** The body of `writeRun`: durable copies, the stale list, then write-through to the hot copies. */
  private async writeBlocks(first: number, run: Buffer, versions: readonly number[]): Promise<void> {
    const bs = this.config.blockSize;
    const count = run.length / bs;
    const { liveOk, shadowOk } = await this.writeDurably(first, run);
    await this.stale.mark(first, count, !shadowOk);
    if (!shadowOk) this.repair.schedule(0);
    for (let i = 0; i < count; i++) {
      const b = first + i;
      if (!liveOk) this.dirtyWhileFailed.add(b);
      // Write-through to the hot copies the policy keeps, so a hot block stays fast after a write.
      for (const h of this.hot) {
        if (!h.view.has(b)) continue;
        try {
          await h.store.writeBlock(b, run.subarray(i * bs, (i + 1) * bs), false);
          if (this.versionOf(b) === versions[i] && h.view.has(b)) h.store.valid.add(b);
        } catch {
          // A failed hot copy is simply not valid; the block is read from a slower copy.
        }
      }
    }
  }

  /** Makes all acknowledged writes durable (they already are; this also syncs the files). */
  async flush(): Promise<void> {
    await this.exclusive(async () => {
      const jobs: Promise<void>[] = [this.shadow.sync()];
      if (this.health.state === 'live') jobs.push(this.live.sync().catch((err: Error) => this.health.note(0, false, err.message)));
      await Promise.all(jobs);
    });
  }

  /** How many writes a block has had since the volume opened (0 for a block never written). */
  private versionOf(block: number): number {
    return this.versions.get(block) ?? 0;
  }

  /** Placement, heat, cost and failover statistics. */
  stats(): VolumeStats {
    const hottest = [...this.heat.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 10)
      .map(([block, reads]) => ({ block, reads }));
    const { health, copies } = this;
    return {
      name: this.config.name,
      blockSize: this.config.blockSize,
      blocks: this.config.blocks,
      state: health.state,
      failoverReason: health.reason,
      liveLatencyEwmaMs: health.ewmaMs,
      liveLatencyBaselineMs: health.latency.baselineMs,
      liveSlowThresholdMs: Number.isFinite(health.latency.thresholdMs) ? health.latency.thresholdMs : null,
      liveErrors: health.errors,
      reads: this.reads,
      writes: this.writes,
      readsServedBy: { ...this.router.servedBy },
      promotions: copies.promotions,
      copiesDone: copies.done,
      copiesDiscarded: copies.discarded,
      copiesDropped: copies.dropped,
      shadowStaleBlocks: this.stale.size,
      shadowRepairs: this.repair.repairs,
      tiers: tierCosts({
        blockSize: this.config.blockSize, blocks: this.config.blocks, live: this.config.live, shadow: this.shadow.profile, shadowStale: this.stale.size,
        hot: this.hot.map((h) => ({ profile: h.store.profile, validBlocks: h.store.valid.size, capacity: h.store.capacity })),
      }),
      hottest,
    };
  }

  /** True when the hot copy of `block` on the tier named `tier` is valid (for tests and the API). */
  isHotOn(tier: string, block: number): boolean {
    return this.hot.some((h) => h.store.profile.name === tier && h.store.valid.has(block));
  }

  /** Waits for queued copies to finish (tests, shutdown). */
  async settle(): Promise<void> {
    await this.copies.settle();
  }

  /** Stops copying and closes every file. */
  async close(): Promise<void> {
    this.repair.close();
    // Queued copies are only an optimisation; dropping them loses nothing.
    await this.copies.close();
    await this.writeChain;
    await Promise.all([this.live.close(), this.shadow.close(), ...this.hot.map((h) => h.store.close())]);
  }
}
