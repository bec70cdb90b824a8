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
 */
import { copyFile, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ShadowplaneError } from '../../core/errors.js';
import { LatencyTrigger, type LatencyTriggerOptions } from './latency-trigger.js';
import { buildPolicy } from './policies/index.js';
import type { FastTier, PlacementPolicy } from './policies/policy.js';
import type { TierProfile } from './profile.js';
import { TierIoError, TierStore, type Faults } from './tier-store.js';

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

/** Where a volume's I/O goes: the live file, or the shadow after failover. */
export type FailoverState = 'live' | 'failed-over';

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
  readonly tiers: { name: string; validBlocks: number; capacityBlocks: number | null; costPerMonth: number }[];
  readonly hottest: { block: number; reads: number }[];
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_COPY_QUEUE = 4096;
/** Pause before retrying the repair of stale shadow blocks while the shadow keeps failing. */
const SHADOW_REPAIR_RETRY_MS = 1000;

/** The policy's view of one fast tier: what it asked to be resident, while real copies catch up. */
class PlacementView implements FastTier {
  readonly wanted = new Set<number>();
  // Copies run in the background; with a handful of requests in flight one or two pass meanwhile.
  readonly copyLag = 2;
  constructor(
    readonly capacity: number,
    private readonly onPromote: (b: number) => void,
    private readonly onEvict: (b: number) => void,
  ) {}
  size(): number {
    return this.wanted.size;
  }
  has(b: number): boolean {
    return this.wanted.has(b);
  }
  promote(b: number): void {
    if (this.wanted.size >= this.capacity || this.wanted.has(b)) throw new Error(`bad promote ${b}`);
    this.wanted.add(b);
    this.onPromote(b);
  }
  evict(b: number): void {
    if (!this.wanted.delete(b)) throw new Error(`bad evict ${b}`);
    this.onEvict(b);
  }
}

interface HotTier {
  readonly store: TierStore;
  readonly view: PlacementView;
  readonly policy: PlacementPolicy;
}

/** A shadowed volume; create with `Volume.open`. */
export class Volume {
  private state: FailoverState = 'live';
  private failoverReason: string | null = null;
  private liveEwma = 0;
  private liveErrors = 0;
  private t = 0;
  private reads = 0;
  private writes = 0;
  private readonly servedBy: Record<string, number> = {};
  private readonly versions = new Map<number, number>();
  /** Blocks whose write is in flight: bumped versions whose data may not be on any copy yet. */
  private readonly writing = new Set<number>();
  private readonly heat = new Map<number, number>();
  private readonly dirtyWhileFailed = new Set<number>();
  /**
   * Blocks acknowledged while the shadow write failed (live succeeded): the shadow holds old data
   * for them until the repair rewrites them from live, so they are never read from the shadow.
   */
  private readonly staleOnShadow = new Set<number>();
  private repairTimer: NodeJS.Timeout | undefined;
  private shadowRepairs = 0;
  private writeChain: Promise<unknown> = Promise.resolve();
  private copyQueue: { tier: HotTier; block: number }[] = [];
  private copying = false;
  private promotions = 0;
  private copiesDone = 0;
  private copiesDiscarded = 0;
  private copiesDropped = 0;
  private closed = false;

  private constructor(
    readonly config: VolumeConfig,
    private readonly latency: LatencyTrigger,
    private readonly live: TierStore,
    private readonly shadow: TierStore,
    private readonly hot: HotTier[],
    /** Where the stale-on-shadow block list is kept, so a restart does not forget it. */
    private readonly staleListPath: string,
  ) {}

  /**
   * Opens a volume, creating the live file and the shadow copy if missing (the first shadow copy
   * is seeded by a bulk file copy). Fails with SHADOWPLANE_ERR_VALIDATION naming the bad field.
   */
  static async open(config: VolumeConfig): Promise<Volume> {
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

    const live = await TierStore.open(config.live, join(config.dir, 'live'), `${config.name}.img`, config.blockSize, config.blocks, Infinity);
    const shadowDir = join(config.dir, `shadow-${config.shadow.name}`);
    const shadowPath = join(shadowDir, `${config.name}.img`);
    const seeded = await stat(shadowPath).then(
      () => true,
      () => false,
    );
    if (!seeded) {
      await mkdir(shadowDir, { recursive: true });
      await copyFile(live.path, shadowPath);
    }
    const shadowStore = await TierStore.open(config.shadow, shadowDir, `${config.name}.img`, config.blockSize, config.blocks, Infinity);
    const staleListPath = join(shadowDir, `${config.name}.stale.json`);
    const vol = new Volume(config, new LatencyTrigger(config.failoverLatencyMs, config.failoverTrigger), live, shadowStore, [], staleListPath);
    const stale = await readFile(staleListPath, 'utf8').then((text) => JSON.parse(text) as number[], () => []);
    for (const b of stale) vol.staleOnShadow.add(b);
    if (stale.length > 0) vol.scheduleShadowRepair(0);
    for (const t of config.fastTiers) {
      const store = await TierStore.open(t.profile, join(config.dir, `tier-${t.profile.name}`), `${config.name}.img`, config.blockSize, config.blocks, t.capacityBlocks);
      const holder: { tier?: HotTier } = {};
      const view = new PlacementView(
        t.capacityBlocks,
        (b) => vol.enqueueCopy(holder.tier as HotTier, b),
        (b) => store.valid.delete(b),
      );
      // The same policy code tier-replay measures; its forecast buckets follow the wall clock.
      holder.tier = { store, view, policy: buildPolicy('shadowplane', view, { blockBytes: config.blockSize }) };
      vol.hot.push(holder.tier);
    }
    return vol;
  }

  /** Size in bytes. */
  get size(): number {
    return this.config.blocks * this.config.blockSize;
  }

  /** Current failover state. */
  get failover(): FailoverState {
    return this.state;
  }

  private checkRange(offset: number, length: number): void {
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', `range ${offset}+${length} is outside the volume (${this.size} bytes)`, [
        { path: 'offset', message: `offset+length must be within 0..${this.size}` },
      ]);
    }
  }

  private noteLive(ms: number, ok: boolean, why: string): void {
    this.liveEwma = this.liveEwma === 0 ? ms : 0.8 * this.liveEwma + 0.2 * ms;
    if (!ok) {
      this.liveErrors++;
      this.failOver(`live I/O error: ${why}`);
      return;
    }
    const slow = this.latency.observe(ms);
    if (slow !== null) this.failOver(slow);
  }

  /** Routes all I/O to the shadow from now on (idempotent). */
  failOver(reason: string): void {
    if (this.state === 'failed-over') return;
    this.state = 'failed-over';
    this.failoverReason = reason;
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
      this.liveEwma = 0;
      this.latency.resetWindow();
      this.state = 'live';
      this.failoverReason = null;
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

  /** Reads one block's current data from the fastest valid copy, without telling the policy. */
  private async readCurrent(b: number): Promise<Buffer> {
    for (const h of this.hot) {
      if (h.store.valid.has(b)) {
        try {
          const data = await h.store.readBlock(b);
          this.count(h.store.profile.name);
          return data;
        } catch {
          h.store.valid.delete(b);
        }
      }
    }
    // A block whose shadow copy is stale is read from live even after failover: live holds the
    // only durable copy of its last write, and old data must never be returned.
    const staleOnShadow = this.staleOnShadow.has(b);
    if (this.state === 'live' || staleOnShadow) {
      const t0 = performance.now();
      try {
        const data = await this.live.readBlock(b);
        this.noteLive(performance.now() - t0, true, '');
        this.count('live');
        return data;
      } catch (err) {
        this.noteLive(performance.now() - t0, false, (err as Error).message);
        if (staleOnShadow) throw new TierIoError(`block ${b}: the live volume failed and the shadow copy is stale`);
      }
    }
    const data = await this.shadow.readBlock(b);
    this.count(`shadow-${this.shadow.profile.name}`);
    return data;
  }

  private count(tier: string): void {
    this.servedBy[tier] = (this.servedBy[tier] ?? 0) + 1;
  }

  /** Tells each hot tier's policy about one read I/O of `count` blocks from `start`. */
  private observe(start: number, count: number): void {
    const t = this.t++;
    for (let b = start; b < start + count; b++) this.heat.set(b, (this.heat.get(b) ?? 0) + 1);
    const io = { t, start, count, time: Date.now() / 1000 };
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
    for (let b = first; b <= last && length > 0; b++) parts.push(this.readCurrent(b));
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
      if (offset % bs !== 0) (await this.readCurrent(first)).copy(run, 0);
      if ((offset + data.length) % bs !== 0 && (last > first || offset % bs === 0)) (await this.readCurrent(last)).copy(run, (last - first) * bs);
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

  /** The body of `writeRun`: durable copies, then write-through to the hot copies. */
  private async writeBlocks(first: number, run: Buffer, versions: readonly number[]): Promise<void> {
    const bs = this.config.blockSize;
    const count = run.length / bs;
    const toLive = async (): Promise<boolean> => {
      if (this.state !== 'live') return false;
      const t0 = performance.now();
      try {
        await this.live.writeBlock(first, run, false);
        // Health is judged on the device's service time; the fdatasync below is filesystem-wide
        // and on a shared machine says more about neighbours than about this device.
        this.noteLive(performance.now() - t0, true, '');
        await this.live.sync();
        return true;
      } catch (err) {
        this.noteLive(performance.now() - t0, false, (err as Error).message);
        return false;
      }
    };
    const toShadow = this.shadow.writeBlock(first, run, true).then(
      () => true,
      () => false,
    );
    const [liveOk, shadowOk] = await Promise.all([toLive(), toShadow]);
    if (!liveOk && !shadowOk) {
      const err = new Error(`no durable copy of blocks ${first}..${first + count - 1} could be written`) as Error & { code: string };
      err.code = 'EIO';
      throw err;
    }
    const staleBefore = this.staleOnShadow.size;
    for (let i = 0; i < count; i++) {
      if (shadowOk) this.staleOnShadow.delete(first + i);
      else this.staleOnShadow.add(first + i);
    }
    if (this.staleOnShadow.size !== staleBefore) await this.saveStaleList();
    if (!shadowOk) this.scheduleShadowRepair(0);
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
      if (this.state === 'live') jobs.push(this.live.sync().catch((err: Error) => this.noteLive(0, false, err.message)));
      await Promise.all(jobs);
    });
  }

  /** Writes the stale-on-shadow list durably (write to a temporary file, then rename). */
  private async saveStaleList(): Promise<void> {
    const tmp = `${this.staleListPath}.tmp`;
    await writeFile(tmp, JSON.stringify([...this.staleOnShadow]), { flush: true });
    await rename(tmp, this.staleListPath);
  }

  private scheduleShadowRepair(delayMs: number): void {
    if (this.repairTimer !== undefined || this.closed) return;
    this.repairTimer = setTimeout(() => {
      this.repairTimer = undefined;
      void this.repairShadow();
    }, delayMs).unref();
  }

  /**
   * Rewrites stale shadow blocks from live, on the write chain so no write to them runs meanwhile;
   * retried while the shadow (or live) keeps failing.
   */
  private async repairShadow(): Promise<void> {
    await this.exclusive(async () => {
      const before = this.staleOnShadow.size;
      for (const b of [...this.staleOnShadow]) {
        if (this.closed) break;
        try {
          await this.shadow.writeBlock(b, await this.live.readBlock(b), true);
        } catch {
          break;
        }
        this.staleOnShadow.delete(b);
        this.shadowRepairs++;
      }
      if (this.staleOnShadow.size !== before) await this.saveStaleList();
    });
    if (this.staleOnShadow.size > 0) this.scheduleShadowRepair(SHADOW_REPAIR_RETRY_MS);
  }

  private enqueueCopy(tier: HotTier, block: number): void {
    this.promotions++;
    if (this.copyQueue.length >= MAX_COPY_QUEUE) {
      this.copyQueue.shift();
      this.copiesDropped++;
    }
    this.copyQueue.push({ tier, block });
    if (!this.copying) void this.runCopies();
  }

  /** Copies blocks up at most at the copy budget; a copy raced by a write or an eviction is discarded. */
  /** How many writes a block has had since the volume opened (0 for a block never written). */
  private versionOf(block: number): number {
    return this.versions.get(block) ?? 0;
  }

  private async runCopies(): Promise<void> {
    this.copying = true;
    const bytesPerMs = (this.config.copyBudgetMiBps * 1024 * 1024) / 1000;
    let budgetStart = performance.now();
    let spent = 0;
    while (!this.closed && this.copyQueue.length > 0) {
      const { tier, block } = this.copyQueue.shift() as { tier: HotTier; block: number };
      if (!tier.view.has(block) || tier.store.valid.has(block)) continue;
      // A write in flight has bumped the version but its data may not be on live yet; its own
      // write-through places the block, so this copy is not needed.
      if (this.writing.has(block)) {
        this.copiesDiscarded++;
        continue;
      }
      const version = this.versionOf(block);
      try {
        const data = await this.readCurrent(block);
        // On the write chain no write is in flight: an unchanged version means `data` is current,
        // and no write-through of this block can land between this copy's write and its marking.
        const placed = await this.exclusive(async () => {
          if (this.versionOf(block) !== version || !tier.view.has(block) || tier.store.valid.has(block)) return false;
          await tier.store.writeBlock(block, data, false);
          if (!tier.view.has(block)) return false;
          tier.store.valid.add(block);
          return true;
        });
        if (placed) this.copiesDone++;
        else this.copiesDiscarded++;
      } catch {
        this.copiesDiscarded++;
      }
      spent += this.config.blockSize;
      const ahead = spent / bytesPerMs - (performance.now() - budgetStart);
      if (ahead >= 1) await new Promise((r) => setTimeout(r, ahead));
      if (performance.now() - budgetStart > 1000) {
        budgetStart = performance.now();
        spent = 0;
      }
    }
    this.copying = false;
  }

  /** Placement, heat, cost and failover statistics. */
  stats(): VolumeStats {
    const gib = (blocks: number): number => (blocks * this.config.blockSize) / 2 ** 30;
    const hottest = [...this.heat.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 10)
      .map(([block, reads]) => ({ block, reads }));
    return {
      name: this.config.name,
      blockSize: this.config.blockSize,
      blocks: this.config.blocks,
      state: this.state,
      failoverReason: this.failoverReason,
      liveLatencyEwmaMs: this.liveEwma,
      liveLatencyBaselineMs: this.latency.baselineMs,
      liveSlowThresholdMs: Number.isFinite(this.latency.thresholdMs) ? this.latency.thresholdMs : null,
      liveErrors: this.liveErrors,
      reads: this.reads,
      writes: this.writes,
      readsServedBy: { ...this.servedBy },
      promotions: this.promotions,
      copiesDone: this.copiesDone,
      copiesDiscarded: this.copiesDiscarded,
      copiesDropped: this.copiesDropped,
      shadowStaleBlocks: this.staleOnShadow.size,
      shadowRepairs: this.shadowRepairs,
      tiers: [
        { name: 'live', validBlocks: this.config.blocks, capacityBlocks: null, costPerMonth: gib(this.config.blocks) * this.config.live.costPerGiBMonth },
        {
          name: `shadow-${this.shadow.profile.name}`,
          validBlocks: this.config.blocks - this.staleOnShadow.size,
          capacityBlocks: null,
          costPerMonth: gib(this.config.blocks) * this.shadow.profile.costPerGiBMonth,
        },
        ...this.hot.map((h) => ({
          name: h.store.profile.name,
          validBlocks: h.store.valid.size,
          capacityBlocks: h.store.capacity,
          costPerMonth: gib(h.store.capacity) * h.store.profile.costPerGiBMonth,
        })),
      ],
      hottest,
    };
  }

  /** True when the hot copy of `block` on the tier named `tier` is valid (for tests and the API). */
  isHotOn(tier: string, block: number): boolean {
    return this.hot.some((h) => h.store.profile.name === tier && h.store.valid.has(block));
  }

  /** Waits for queued copies to finish (tests, shutdown). */
  async settle(): Promise<void> {
    while (this.copying || this.copyQueue.length > 0) await new Promise((r) => setTimeout(r, 5));
  }

  /** Stops copying and closes every file. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.repairTimer);
    // Queued copies are only an optimisation; dropping them loses nothing.
    this.copyQueue = [];
    await this.settle();
    await this.writeChain;
    await Promise.all([this.live.close(), this.shadow.close(), ...this.hot.map((h) => h.store.close())]);
  }
}
