/**
 * The storage port of the stream service. A *replica* is one copy of one partition's log (the
 * primary or a shadow); every replica of a partition holds the same record at the same offset,
 * which is what lets a consumer switch replicas at a committed offset without loss or duplicates.
 * Two backends implement it: SegmentLog (embedded segment files) and JetStreamLog (NATS).
 */

/** A record as a producer sends it. */
export interface RecordInput {
  /** Unique record id (producer-chosen or assigned by the service). */
  readonly id: string;
  /** Routing key: every record of a key goes to one partition, in append order. */
  readonly key: string;
  /** Opaque payload. */
  readonly value: string;
}

/** A record as stored: its input, the time the service accepted it and its offset. */
export interface StoredRecord extends RecordInput {
  /** Accept time, ms since the epoch (lag is measured from it). */
  readonly at: number;
  /** Position in the partition, identical in every replica. */
  readonly offset: number;
}

/** Durable storage for partition replicas and small numeric metadata (committed offsets, epochs). */
export interface ReplicaLog {
  /** Backend name for reports: `segment` or `jetstream`. */
  readonly kind: string;
  /** Creates replica `name` whose first offset is `base`; a no-op when it exists. Fails when storage is unreachable. */
  create(name: string, base: number): Promise<void>;
  /**
   * Appends `records`, whose offsets must continue the replica exactly (the first equals `end`);
   * resolves once they are stored under the backend's durability policy. Fails with
   * SHADOWPLANE_ERR_STREAM_OFFSET on a gap or overlap and with SHADOWPLANE_ERR_NOT_FOUND for an unknown replica.
   */
  append(name: string, records: readonly StoredRecord[]): Promise<void>;
  /** Up to `max` records from offset `from` (ascending; [] when none yet). Fails for an unknown replica or `from` below its base. */
  read(name: string, from: number, max: number): Promise<StoredRecord[]>;
  /** The next offset to be written (base when empty). Fails for an unknown replica. */
  end(name: string): Promise<number>;
  /** Whether replica `name` exists. */
  exists(name: string): Promise<boolean>;
  /** Deletes a replica and its data; a no-op when absent. */
  drop(name: string): Promise<void>;
  /** Durably sets a numeric metadata value (committed offset, epoch). */
  setMeta(key: string, value: number): Promise<void>;
  /** A metadata value, or undefined when never set. */
  getMeta(key: string): Promise<number | undefined>;
  /** Flushes and releases files or connections. */
  close(): Promise<void>;
}

/** Replica names are `p<partition>-<tag>`; only these characters are allowed so every backend can use them. */
export const REPLICA_NAME = /^[A-Za-z0-9_-]{1,64}$/;
