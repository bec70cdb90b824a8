/**
 * The NATS JetStream ReplicaLog: one stream per replica (file storage, subject
 * `<prefix>.r.<replica>`), record offset `o` stored at stream sequence `o - base + 1`, appends
 * published with an expected last sequence so a gap or overlap is refused by the server, and
 * metadata in a `<prefix>_META` stream keeping the last message per subject.
 *
 * Durability: an append resolves when JetStream has acknowledged it (written to its file store).
 * The server fsyncs on its own `sync_interval` (default two minutes on nats-server 2.9; `always`
 * from 2.10); a single server survives a process crash but may lose that window on power loss.
 * Run a JetStream cluster with replicas for more.
 */
import { StorageType, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { headers as natsHeaders, type NatsConnection } from '@nats-io/transport-node';
import { ShadowplaneError } from '../../core/errors.js';
import { connectJetStream, isJetStreamNotFound as isNotFound, streamBackendError as backendError } from '../../core/nats.js';
import { REPLICA_NAME, type ReplicaLog, type StoredRecord } from './log.js';

/** Options of a JetStreamLog. */
export interface JetStreamLogOptions {
  /** Server URL, default `nats://127.0.0.1:4222`. */
  readonly url?: string;
  /** Prefix of stream names and subjects (letters, digits, `_`), so several services can share a server. */
  readonly prefix: string;
  /** Connect timeout, default 2000 ms. */
  readonly timeoutMs?: number;
}

const decode = (data: Uint8Array): unknown => JSON.parse(new TextDecoder().decode(data));

/** JetStream-backed replicas. `open()` fails with SHADOWPLANE_ERR_STREAM_BACKEND when NATS is unreachable. */
export class JetStreamLog implements ReplicaLog {
  readonly kind = 'jetstream';
  private readonly bases = new Map<string, number>();
  private readonly ends = new Map<string, number>();

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    private readonly prefix: string,
  ) {}

  /** Connects and ensures the metadata stream exists. */
  static async open(options: JetStreamLogOptions): Promise<JetStreamLog> {
    if (!/^[A-Za-z0-9_]{1,32}$/.test(options.prefix)) throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', 'bad JetStream prefix', [{ path: 'prefix', message: 'must be 1-32 letters, digits or _' }]);
    const { nc, jsm, js } = await connectJetStream(options.url, options.timeoutMs);
    try {
      const log = new JetStreamLog(nc, jsm, js, options.prefix);
      await log.ensureStream(`${options.prefix}_META`, `${options.prefix}.m.>`, 1);
      return log;
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw err instanceof ShadowplaneError ? err : backendError('JetStream is not enabled or not answering', err);
    }
  }

  private streamOf(name: string): string {
    if (!REPLICA_NAME.test(name)) throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', `bad replica name ${JSON.stringify(name)}`, [{ path: 'replica', message: `must match ${REPLICA_NAME}` }]);
    return `${this.prefix}_R_${name}`;
  }

  private async ensureStream(stream: string, subject: string, perSubject: number): Promise<void> {
    try {
      await this.jsm.streams.info(stream);
    } catch (err) {
      if (!isNotFound(err)) throw backendError(`stream ${stream}`, err);
      await this.jsm.streams.add({ name: stream, subjects: [subject], storage: StorageType.File, max_msgs_per_subject: perSubject });
    }
  }

  private async baseOf(name: string): Promise<number> {
    let base = this.bases.get(name);
    if (base === undefined) {
      base = await this.getMeta(`base.${name}`);
      if (base === undefined) throw new ShadowplaneError('SHADOWPLANE_ERR_NOT_FOUND', `no replica ${name}`);
      this.bases.set(name, base);
    }
    return base;
  }

  async create(name: string, base: number): Promise<void> {
    const stream = this.streamOf(name);
    if (await this.exists(name)) return;
    await this.ensureStream(stream, `${this.prefix}.r.${name}`, -1);
    await this.setMeta(`base.${name}`, base);
    this.bases.set(name, base);
  }

  async exists(name: string): Promise<boolean> {
    if (this.bases.has(name)) return true;
    try {
      await this.jsm.streams.info(this.streamOf(name));
    } catch (err) {
      if (isNotFound(err)) return false;
      throw backendError(`replica ${name}`, err);
    }
    return (await this.getMeta(`base.${name}`)) !== undefined;
  }

  async end(name: string): Promise<number> {
    const cached = this.ends.get(name);
    if (cached !== undefined) return cached;
    const base = await this.baseOf(name);
    let last: number;
    try {
      last = (await this.jsm.streams.info(this.streamOf(name))).state.last_seq;
    } catch (err) {
      throw isNotFound(err) ? new ShadowplaneError('SHADOWPLANE_ERR_NOT_FOUND', `no replica ${name}`) : backendError(`replica ${name}`, err);
    }
    this.ends.set(name, base + last);
    return base + last;
  }

  async append(name: string, records: readonly StoredRecord[]): Promise<void> {
    if (records.length === 0) return;
    const base = await this.baseOf(name);
    const end = await this.end(name);
    records.forEach((rec, i) => {
      if (rec.offset !== end + i) throw new ShadowplaneError('SHADOWPLANE_ERR_STREAM_OFFSET', `replica ${name}: append at offset ${rec.offset}, expected ${end + i}`);
    });
    const subject = `${this.prefix}.r.${name}`;
    // Published back to back (the server applies them in order); each carries the sequence it
    // must follow, so a concurrent writer or a lost ack can never create a gap or a duplicate.
    const acks = records.map((rec) => {
      const h = natsHeaders();
      h.set('Nats-Msg-Id', `${name}:${rec.offset}`);
      return this.js.publish(subject, JSON.stringify(rec), { expect: { lastSequence: rec.offset - base }, headers: h });
    });
    const settled = await Promise.allSettled(acks);
    const failed = settled.find((s) => s.status === 'rejected');
    this.ends.delete(name);
    if (failed) throw backendError(`append to ${name}`, (failed as PromiseRejectedResult).reason);
    this.ends.set(name, end + records.length);
  }

  async read(name: string, from: number, max: number): Promise<StoredRecord[]> {
    const base = await this.baseOf(name);
    if (from < base) throw new ShadowplaneError('SHADOWPLANE_ERR_STREAM_OFFSET', `replica ${name}: offset ${from} is below its base ${base}`);
    const end = await this.end(name);
    const n = Math.max(0, Math.min(max, end - from));
    const stream = this.streamOf(name);
    try {
      // Direct gets are pipelined on one connection: one round trip for the batch, not per record.
      const msgs = await Promise.all(Array.from({ length: n }, (_, i) => this.jsm.streams.getMessage(stream, { seq: from - base + 1 + i })));
      return msgs.map((m, i) => {
        if (!m) throw new Error(`record ${from + i} is missing from the stream`);
        return decode(m.data) as StoredRecord;
      });
    } catch (err) {
      throw backendError(`read ${name}@${from}`, err);
    }
  }

  async drop(name: string): Promise<void> {
    this.bases.delete(name);
    this.ends.delete(name);
    try {
      await this.jsm.streams.delete(this.streamOf(name));
    } catch (err) {
      if (!isNotFound(err)) throw backendError(`drop ${name}`, err);
    }
    await this.js.publish(`${this.prefix}.m.base.${name}`, 'null');
  }

  async setMeta(key: string, value: number): Promise<void> {
    try {
      await this.js.publish(`${this.prefix}.m.${key}`, JSON.stringify(value));
    } catch (err) {
      throw backendError(`meta ${key}`, err);
    }
  }

  async getMeta(key: string): Promise<number | undefined> {
    try {
      const m = await this.jsm.streams.getMessage(`${this.prefix}_META`, { last_by_subj: `${this.prefix}.m.${key}` });
      const v = m ? decode(m.data) : undefined;
      return typeof v === 'number' ? v : undefined;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw backendError(`meta ${key}`, err);
    }
  }

  /**
   * Deletes every stream under this prefix (replicas and metadata): for tests and benchmarks
   * that must leave the server as they found it.
   */
  async destroy(): Promise<void> {
    for await (const name of this.jsm.streams.names()) {
      if (name === `${this.prefix}_META` || name.startsWith(`${this.prefix}_R_`)) await this.jsm.streams.delete(name).catch(() => undefined);
    }
    this.bases.clear();
    this.ends.clear();
  }

  async close(): Promise<void> {
    await this.nc.drain().catch(() => undefined);
  }
}
