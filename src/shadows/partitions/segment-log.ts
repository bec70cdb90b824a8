/**
 * The embedded ReplicaLog: one directory per replica holding segment files of framed records
 * (`[u32 length][u32 crc32][JSON]`), rolled at `segmentBytes`, plus an append-only metadata
 * journal. On open a torn or corrupt tail frame (a crash mid-write) is cut off.
 *
 * Durability (the fsync policy):
 * - `always` (default): every append and every metadata write is fdatasync'ed before it resolves,
 *   so an acknowledged record survives power loss.
 * - `interval`: writes go to the OS at once (they survive a process crash) and are fsync'ed every
 *   `fsyncIntervalMs`; power loss may lose that much acknowledged data.
 * - `never`: the OS decides; for tests and benchmarks only.
 */
import { mkdir, open, readdir, readFile, rm, rename, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { ShadowplaneError } from '../../core/errors.js';
import { REPLICA_NAME, type ReplicaLog, type StoredRecord } from './log.js';

/** When appended data is forced to disk; see the module comment. */
export type FsyncPolicy = 'always' | 'interval' | 'never';

/** Options of a SegmentLog. */
export interface SegmentLogOptions {
  /** Root directory (created if missing). */
  readonly dir: string;
  /** Default `always`. */
  readonly fsync?: FsyncPolicy;
  /** Period for `interval`, default 100 ms. */
  readonly fsyncIntervalMs?: number;
  /** Segment roll size, default 16 MiB. */
  readonly segmentBytes?: number;
}

interface Segment {
  readonly base: number;
  readonly path: string;
  /** Byte position of each record's frame. */
  readonly positions: number[];
  size: number;
}

interface Replica {
  readonly dir: string;
  readonly base: number;
  readonly segments: Segment[];
  fd?: FileHandle;
  dirty: boolean;
}

const HEADER = 8;

/** Segment files on the local disk. Methods fail with SHADOWPLANE_ERR_NOT_FOUND / _STREAM_OFFSET as the port says, or with the fs error. */
export class SegmentLog implements ReplicaLog {
  readonly kind = 'segment';
  private readonly replicas = new Map<string, Promise<Replica>>();
  private meta = new Map<string, number>();
  private metaFd?: FileHandle;
  private metaLines = 0;
  private metaQueue: Promise<void> = Promise.resolve();
  private readonly fsync: FsyncPolicy;
  private readonly segmentBytes: number;
  private timer?: NodeJS.Timeout;
  private ready?: Promise<void>;

  constructor(private readonly options: SegmentLogOptions) {
    this.fsync = options.fsync ?? 'always';
    this.segmentBytes = options.segmentBytes ?? 16 * 1024 * 1024;
  }

  private init(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(join(this.options.dir, 'replicas'), { recursive: true });
      const metaPath = join(this.options.dir, 'meta.jsonl');
      const text = await readFile(metaPath, 'utf8').catch(() => '');
      for (const line of text.split('\n')) {
        // A torn last line (crash mid-write) is ignored: the value before it stands.
        try {
          const { k, v } = JSON.parse(line) as { k: string; v: number };
          if (typeof k === 'string' && typeof v === 'number') this.meta.set(k, v);
        } catch { /* torn line */ }
      }
      await this.compactMeta();
      if (this.fsync === 'interval') {
        this.timer = setInterval(() => void this.syncAll(), this.options.fsyncIntervalMs ?? 100);
        this.timer.unref();
      }
    })();
    return this.ready;
  }

  /** Rewrites the journal as one line per key (atomically, via rename). */
  private async compactMeta(): Promise<void> {
    const metaPath = join(this.options.dir, 'meta.jsonl');
    await this.metaFd?.close();
    const body = [...this.meta].map(([k, v]) => JSON.stringify({ k, v }) + '\n').join('');
    await writeFile(metaPath + '.tmp', body, { flush: true });
    await rename(metaPath + '.tmp', metaPath);
    this.metaFd = await open(metaPath, 'a');
    this.metaLines = this.meta.size;
  }

  private async syncAll(): Promise<void> {
    for (const pending of this.replicas.values()) {
      const r = await pending;
      if (r.dirty && r.fd) {
        r.dirty = false;
        await r.fd.datasync().catch(() => undefined);
      }
    }
    await this.metaFd?.datasync().catch(() => undefined);
  }

  private replicaDir(name: string): string {
    if (!REPLICA_NAME.test(name)) throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', `bad replica name ${JSON.stringify(name)}`, [{ path: 'replica', message: `must match ${REPLICA_NAME}` }]);
    return join(this.options.dir, 'replicas', name);
  }

  private load(name: string): Promise<Replica> {
    let pending = this.replicas.get(name);
    if (!pending) {
      pending = this.openReplica(name);
      this.replicas.set(name, pending);
      pending.catch(() => this.replicas.delete(name));
    }
    return pending;
  }

  private async openReplica(name: string): Promise<Replica> {
    await this.init();
    const dir = this.replicaDir(name);
    const baseText = await readFile(join(dir, 'BASE'), 'utf8').catch(() => undefined);
    if (baseText === undefined) throw new ShadowplaneError('SHADOWPLANE_ERR_NOT_FOUND', `no replica ${name}`);
    const replica: Replica = { dir, base: Number(baseText), segments: [], dirty: false };
    const files = (await readdir(dir)).filter((f) => f.endsWith('.seg')).sort();
    for (const file of files) {
      const path = join(dir, file);
      const buf = await readFile(path);
      const segment: Segment = { base: Number(file.slice(0, -4)), path, positions: [], size: 0 };
      let pos = 0;
      while (pos + HEADER <= buf.length) {
        const len = buf.readUInt32BE(pos);
        if (pos + HEADER + len > buf.length || crc32(buf.subarray(pos + HEADER, pos + HEADER + len)) !== buf.readUInt32BE(pos + 4)) break;
        segment.positions.push(pos);
        pos += HEADER + len;
      }
      if (pos < buf.length) {
        // Cut the torn tail so the next append starts on a frame boundary.
        const fd = await open(path, 'r+');
        await fd.truncate(pos);
        await fd.close();
      }
      segment.size = pos;
      replica.segments.push(segment);
    }
    return replica;
  }

  async create(name: string, base: number): Promise<void> {
    await this.init();
    const dir = this.replicaDir(name);
    if (await this.exists(name)) return;
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'BASE.tmp'), String(base), { flush: true });
    await rename(join(dir, 'BASE.tmp'), join(dir, 'BASE'));
  }

  async exists(name: string): Promise<boolean> {
    return stat(join(this.replicaDir(name), 'BASE')).then(() => true, () => false);
  }

  private endOf(r: Replica): number {
    const last = r.segments.at(-1);
    return last ? last.base + last.positions.length : r.base;
  }

  async end(name: string): Promise<number> {
    return this.endOf(await this.load(name));
  }

  async append(name: string, records: readonly StoredRecord[]): Promise<void> {
    if (records.length === 0) return;
    const r = await this.load(name);
    const end = this.endOf(r);
    records.forEach((rec, i) => {
      if (rec.offset !== end + i) throw new ShadowplaneError('SHADOWPLANE_ERR_STREAM_OFFSET', `replica ${name}: append at offset ${rec.offset}, expected ${end + i}`);
    });
    let segment = r.segments.at(-1);
    if (!segment || segment.size >= this.segmentBytes) {
      await r.fd?.close();
      const path = join(r.dir, `${String(end).padStart(20, '0')}.seg`);
      segment = { base: end, path, positions: [], size: 0 };
      r.segments.push(segment);
      r.fd = await open(path, 'a');
    }
    r.fd ??= await open(segment.path, 'a');
    const frames: Buffer[] = [];
    const positions: number[] = [];
    let size = segment.size;
    for (const rec of records) {
      const body = Buffer.from(JSON.stringify(rec));
      const head = Buffer.alloc(HEADER);
      head.writeUInt32BE(body.length, 0);
      head.writeUInt32BE(crc32(body), 4);
      frames.push(head, body);
      positions.push(size);
      size += HEADER + body.length;
    }
    await r.fd.writev(frames);
    if (this.fsync === 'always') await r.fd.datasync();
    else r.dirty = true;
    // Readers see the records only once they are written (and synced, under `always`).
    segment.positions.push(...positions);
    segment.size = size;
  }

  async read(name: string, from: number, max: number): Promise<StoredRecord[]> {
    const r = await this.load(name);
    if (from < r.base) throw new ShadowplaneError('SHADOWPLANE_ERR_STREAM_OFFSET', `replica ${name}: offset ${from} is below its base ${r.base}`);
    const segment = r.segments.findLast((s) => s.base <= from);
    if (!segment) return [];
    const first = from - segment.base;
    const last = Math.min(segment.positions.length, first + max);
    if (first >= last) return [];
    const start = segment.positions[first];
    const stop = last < segment.positions.length ? segment.positions[last] : segment.size;
    const buf = Buffer.alloc(stop - start);
    const fd = await open(segment.path, 'r');
    try {
      await fd.read(buf, 0, buf.length, start);
    } finally {
      await fd.close();
    }
    const out: StoredRecord[] = [];
    for (let pos = 0; pos < buf.length; ) {
      const len = buf.readUInt32BE(pos);
      out.push(JSON.parse(buf.subarray(pos + HEADER, pos + HEADER + len).toString('utf8')) as StoredRecord);
      pos += HEADER + len;
    }
    return out;
  }

  async drop(name: string): Promise<void> {
    const dir = this.replicaDir(name);
    const pending = this.replicas.get(name);
    this.replicas.delete(name);
    if (pending) await (await pending.catch(() => undefined))?.fd?.close();
    await rm(dir, { recursive: true, force: true });
  }

  async setMeta(key: string, value: number): Promise<void> {
    await this.init();
    // Journal writes are queued so a compaction never races a write on the old file.
    const write = this.metaQueue.then(async () => {
      this.meta.set(key, value);
      await this.metaFd!.write(JSON.stringify({ k: key, v: value }) + '\n');
      if (this.fsync === 'always') await this.metaFd!.datasync();
      if (++this.metaLines > 4 * this.meta.size + 10_000) await this.compactMeta();
    });
    this.metaQueue = write.catch(() => undefined);
    return write;
  }

  async getMeta(key: string): Promise<number | undefined> {
    await this.init();
    return this.meta.get(key);
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.ready) await this.syncAll();
    for (const pending of this.replicas.values()) await (await pending.catch(() => undefined))?.fd?.close();
    this.replicas.clear();
    await this.metaFd?.close();
    this.metaFd = undefined;
  }
}
