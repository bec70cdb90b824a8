/**
 * One storage tier as real storage: a sparse file in the tier's directory holding block copies at
 * their volume offsets, plus the set of blocks whose copy is valid. Every read and write pays the
 * tier's profile (latency, and bandwidth through a busy-until queue) on the store's clock, so tiers
 * behave differently on one machine. Faults can be injected (added latency, EIO) to exercise failover.
 */
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { realClock, sleep, type Clock } from '../../core/clock.js';
import type { TierProfile } from './profile.js';

/** Faults injected into a store: extra latency per I/O and/or every I/O failing with EIO. */
export interface Faults {
  /** Milliseconds added to every I/O. */
  readonly addedLatencyMs: number;
  /** When true, every I/O fails with an EIO error after its latency. */
  readonly eio: boolean;
}

/** An I/O error from a tier, carrying the errno code (`EIO`). */
export class TierIoError extends Error {
  readonly code = 'EIO';
}

/** A file-backed block store with a performance profile. */
export class TierStore {
  /** Blocks whose copy on this store is valid (the live store treats every block as valid). */
  readonly valid = new Set<number>();
  faults: Faults = { addedLatencyMs: 0, eio: false };
  private busyUntil = 0;
  private constructor(
    readonly profile: TierProfile,
    readonly path: string,
    private readonly fh: FileHandle,
    readonly blockSize: number,
    /** Blocks this tier may hold (Infinity for a complete copy). */
    readonly capacity: number,
    private readonly clock: Clock,
  ) {}

  /**
   * Opens (creating if needed) `<dir>/<file>` sized to `blocks` blocks. Fails with the fs error
   * when the directory cannot be created or the file opened. The profile's latency and bandwidth are
   * paid in `clock` time.
   */
  static async open(
    profile: TierProfile, dir: string, file: string, blockSize: number, blocks: number, capacity: number, clock: Clock = realClock,
  ): Promise<TierStore> {
    await mkdir(dir, { recursive: true });
    const path = join(dir, file);
    const fh = await open(path, 'a+').then(async (h) => (await h.close(), open(path, 'r+')));
    const st = await fh.stat();
    if (st.size < blocks * blockSize) await fh.truncate(blocks * blockSize);
    return new TierStore(profile, path, fh, blockSize, capacity, clock);
  }

  /** Waits the profile's latency plus queued transfer time, then applies injected faults. */
  private async pay(bytes: number): Promise<void> {
    const now = this.clock.monotonic();
    const transfer = (bytes / (this.profile.bandwidthMiBps * 1024 * 1024)) * 1000;
    const start = Math.max(now, this.busyUntil);
    this.busyUntil = start + transfer;
    const wait = this.busyUntil - now + this.profile.latencyMs + this.faults.addedLatencyMs;
    if (wait >= 1) await sleep(this.clock, wait);
    if (this.faults.eio) throw new TierIoError(`EIO on ${this.profile.name} (${this.path})`);
  }

  /** Reads one block. Throws TierIoError under an injected EIO. */
  async readBlock(block: number): Promise<Buffer> {
    await this.pay(this.blockSize);
    const buf = Buffer.alloc(this.blockSize);
    await this.fh.read(buf, 0, this.blockSize, block * this.blockSize);
    return buf;
  }

  /**
   * Writes whole blocks starting at `block` (data.length a multiple of the block size), durably
   * when `sync` (fdatasync before returning). Throws TierIoError under EIO.
   */
  async writeBlock(block: number, data: Buffer, sync: boolean): Promise<void> {
    await this.pay(data.length);
    await this.fh.write(data, 0, data.length, block * this.blockSize);
    if (sync) await this.fh.datasync();
  }

  /** Makes earlier writes durable. */
  async sync(): Promise<void> {
    await this.pay(0);
    await this.fh.datasync();
  }

  /** Closes the file. */
  async close(): Promise<void> {
    await this.fh.close();
  }
}
