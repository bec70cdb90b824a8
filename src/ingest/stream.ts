/**
 * The ingest stream (`ingest.jetstream`): what the ingest path accepts is published to a NATS
 * JetStream stream instead of the local rollups, split into partitions by target, and each
 * replica rolls up the partitions it holds (partitioned.ts). An ingest request is answered only
 * once JetStream has acknowledged every message of it, so an acknowledged item is in the stream.
 *
 * Partition `k` of target `t` is SHA-1(t) mapped onto [0, P) (the sampler's hash unit), subject
 * `<stream>.p.<k>`. A message carries up to MAX_ITEMS_PER_MESSAGE items as they were accepted:
 * sampled, pseudonymised, weighted (the rate), so replaying it rolls up exactly what was accepted.
 * With an Idempotency-Key, each message gets a JetStream message id derived from it, and a
 * request sent again within the stream's duplicate window is stored once.
 */
import { Type, type Static } from '@sinclair/typebox';
import { DeliverPolicy, StorageType, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { ShadowplaneError } from '../core/errors.js';
import { connectJetStream, DEFAULT_NATS_URL, isJetStreamNotFound, streamBackendError } from '../core/nats.js';
import { Duration } from '../core/schema.js';
import type { RollupEvent } from '../store/rollup.js';
import type { RollupSink } from './ingestor.js';
import { sampleUnit } from './sampler.js';

/** `ingest.jetstream` in the config file. */
export const JetStreamIngestSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: false, description: 'Send what `POST /v1/events`, `/v1/samples`, remote-write, OTLP and the scraper accept through a NATS JetStream stream, rolled up by the replicas that share the PostgreSQL store, each taking its share of the partitions (docs/architecture.md, "Replica ingest"). Needs `store.backend: postgres`.' }),
    url: Type.String({ pattern: '^nats://[^/?#\\s]+$', default: DEFAULT_NATS_URL, description: 'The NATS server.', errorMessage: 'must be a nats:// URL (host and port, no path)' }),
    stream: Type.String({ pattern: '^[A-Za-z0-9_-]{1,32}$', default: 'SHADOWPLANE_INGEST', description: 'The JetStream stream (created if missing); its subjects are `<stream>.p.<partition>`. Every replica of one store uses the same stream.', errorMessage: 'must be 1 to 32 letters, digits, _ or -' }),
    partitions: Type.Integer({ minimum: 1, maximum: 1024, default: 16, description: 'Partitions the targets are hashed onto: the most replicas that can share the ingest. The same on every replica, and fixed once the stream is in use.' }),
    lease: Duration('How long a replica holds its partitions without a heartbeat (renewed five times within it): after a replica dies, the longest its partitions wait for another.', '10s'),
    retention: Duration('How long the stream keeps events; a partition left unread for longer loses them.', '1d'),
  },
  { additionalProperties: false, default: {}, description: 'Ingest spread across replicas through NATS JetStream (off by default).' },
);

/** The validated `ingest.jetstream` settings. */
export type JetStreamIngestConfig = Static<typeof JetStreamIngestSchema>;

/** Most items in one message: a full batch to one partition stays well under NATS's 1 MB payload limit. */
const MAX_ITEMS_PER_MESSAGE = 500;

/** How long a repeated message id is recognised (JetStream's duplicate window), ns. */
const DUPLICATE_WINDOW_NS = 2 * 60 * 1e9;

/** The partition of `target` among `partitions`. */
export function partitionOf(target: string, partitions: number): number {
  return Math.floor(sampleUnit(target) * partitions);
}

/** One accepted item in a message: an event with its weight's rate, or a metric sample. */
export type StreamItem = { t: string; r: number; e: RollupEvent } | { t: string; s: string; at: number; v: number };

/** Adds the items of one message to `engine`. */
export function rollUp(engine: RollupSink, items: readonly StreamItem[]): void {
  for (const item of items) {
    if ('e' in item) engine.addEvent(item.t, item.e, item.r);
    else engine.addSample(item.t, item.s, item.at, item.v);
  }
}

/** What accepted items of one request (or one scrape) become: a sink for the ingest path, published together. */
export class StreamBatch implements RollupSink {
  private readonly byPartition = new Map<number, StreamItem[]>();
  private count = 0;

  constructor(
    private readonly stream: IngestStream,
    private readonly idempotencyKey?: string,
  ) {}

  addEvent(target: string, event: RollupEvent, rate: number): void {
    // The ingest path reuses one event object: keep a copy.
    this.add(target, { t: target, r: rate, e: { ...event } });
  }

  addSample(target: string, seriesKey: string, at: number, value: number): void {
    this.add(target, { t: target, s: seriesKey, at, v: value });
  }

  /** Items added so far. */
  get size(): number {
    return this.count;
  }

  /** Publishes every item; resolves once JetStream acknowledged them all, rejects (SHADOWPLANE_ERR_STREAM_BACKEND) if any failed. */
  async publish(): Promise<void> {
    const sends: Promise<unknown>[] = [];
    for (const [k, items] of this.byPartition) {
      for (let i = 0; i * MAX_ITEMS_PER_MESSAGE < items.length; i++) {
        const msgID = this.idempotencyKey === undefined ? undefined : `${this.idempotencyKey}/${k}/${i}`;
        sends.push(this.stream.send(k, JSON.stringify(items.slice(i * MAX_ITEMS_PER_MESSAGE, (i + 1) * MAX_ITEMS_PER_MESSAGE)), msgID));
      }
    }
    const results = await Promise.allSettled(sends);
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw streamBackendError(`publish to ${this.stream.name}`, failed.reason);
  }

  private add(target: string, item: StreamItem): void {
    const k = this.stream.partitionOf(target);
    let items = this.byPartition.get(k);
    if (!items) {
      items = [];
      this.byPartition.set(k, items);
    }
    items.push(item);
    this.count++;
  }
}

/** What a partition's reader does with a message: its items, sequence, time stored (ms) and the partition's messages still pending after it. */
export type ApplyMessage = (items: StreamItem[], seq: number, storedAt: number, pending: number) => void;

/** A running read of one partition. */
export interface PartitionReader {
  /** Stops delivering; resolves once no more messages will be handed over. */
  stop(): Promise<void>;
}

/** The ingest stream on one NATS connection. `open()` fails with SHADOWPLANE_ERR_STREAM_BACKEND when NATS or JetStream is unreachable. */
export class IngestStream {
  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly js: JetStreamClient,
    readonly name: string,
    readonly partitions: number,
  ) {}

  /** Connects and creates the stream if missing. */
  static async open(config: Pick<JetStreamIngestConfig, 'url' | 'stream' | 'partitions'> & { retentionMs: number }): Promise<IngestStream> {
    const { nc, jsm, js } = await connectJetStream(config.url);
    try {
      await jsm.streams.info(config.stream);
    } catch (err) {
      if (!isJetStreamNotFound(err)) {
        await nc.close().catch(() => undefined);
        throw streamBackendError(`stream ${config.stream}`, err);
      }
      try {
        await jsm.streams.add({
          name: config.stream, subjects: [`${config.stream}.p.*`], storage: StorageType.File,
          max_age: config.retentionMs * 1e6, duplicate_window: DUPLICATE_WINDOW_NS,
        });
      } catch (addErr) {
        await nc.close().catch(() => undefined);
        throw streamBackendError(`create stream ${config.stream}`, addErr);
      }
    }
    return new IngestStream(nc, jsm, js, config.stream, config.partitions);
  }

  /** The partition of `target`. */
  partitionOf(target: string): number {
    return partitionOf(target, this.partitions);
  }

  /** A sink collecting one request's accepted items; `idempotencyKey` names its messages. */
  batch(idempotencyKey?: string): StreamBatch {
    return new StreamBatch(this, idempotencyKey);
  }

  /** Publishes one message to partition `k`; resolves on JetStream's acknowledgement. */
  send(k: number, payload: string, msgID?: string): Promise<unknown> {
    return this.js.publish(this.subject(k), payload, msgID === undefined ? undefined : { msgID });
  }

  /** The stream sequence of partition `k`'s last message (0 when it has none). */
  async lastSequence(k: number): Promise<number> {
    try {
      const msg = await this.jsm.streams.getMessage(this.name, { last_by_subj: this.subject(k) });
      return msg?.seq ?? 0;
    } catch (err) {
      if (isJetStreamNotFound(err)) return 0;
      throw streamBackendError(`last message of partition ${k}`, err);
    }
  }

  /**
   * Reads partition `k` from stream sequence `from` on, in order (an ordered consumer, which
   * JetStream recreates at the right sequence after a gap), handing each message's items, its
   * sequence, when it was stored and how many messages of the partition were still pending to
   * `apply`. If reading stops on an error (a message that is not ours, `apply` throwing), `failed`
   * is told and nothing more is delivered.
   */
  async read(k: number, from: number, apply: ApplyMessage, failed: (err: Error) => void): Promise<PartitionReader> {
    let stopped = false;
    try {
      // One filter subject (not a list): servers before 2.10 take only that.
      const consumer = await this.js.consumers.get(this.name, {
        filter_subjects: this.subject(k), deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from,
      });
      const messages = await consumer.consume({ max_messages: 256 });
      const done = (async () => {
        for await (const m of messages) {
          if (stopped) break;
          apply(m.json<StreamItem[]>(), m.seq, m.info.timestampNanos / 1e6, m.info.pending);
        }
      })().catch((err: Error) => {
        if (!stopped) failed(err);
      });
      return {
        stop: async () => {
          stopped = true;
          await messages.close().catch(() => undefined);
          await done;
        },
      };
    } catch (err) {
      throw streamBackendError(`read partition ${k}`, err);
    }
  }

  /** Closes the connection once pending publishes are sent. */
  async close(): Promise<void> {
    await this.nc.drain().catch(() => undefined);
  }

  private subject(k: number): string {
    return `${this.name}.p.${k}`;
  }
}

/** SHADOWPLANE_ERR_VALIDATION for an Idempotency-Key header JetStream cannot use as a message id base. */
export function checkIdempotencyKey(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !/^[\x21-\x7e]{1,128}$/.test(value)) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', 'bad Idempotency-Key header', [{ path: 'headers/idempotency-key', message: 'must be one value of 1 to 128 printable ASCII characters without spaces' }]);
  }
  return value;
}
