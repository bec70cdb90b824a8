/**
 * Messages between the stream service and its worker processes (Node IPC, JSON). Every message
 * about a partition carries the partition's *epoch*: the service bumps it on each ownership change
 * and ignores commits from any other epoch, which fences a revoked or dead worker.
 */

/** A record as handed to a worker (the stored record, minus nothing). */
export interface WireRecord {
  readonly offset: number;
  readonly id: string;
  readonly key: string;
  readonly value: string;
  readonly at: number;
}

/** Service → worker. */
export type ToWorker =
  | { readonly t: 'config'; readonly capacity: number }
  | { readonly t: 'assign'; readonly partition: number; readonly epoch: number }
  | { readonly t: 'revoke'; readonly partition: number; readonly epoch: number }
  | { readonly t: 'records'; readonly partition: number; readonly epoch: number; readonly records: readonly WireRecord[] };

/** Worker → service: records `from`..`from+records.length-1` of `partition` are processed, please commit. */
export type FromWorker =
  | { readonly t: 'ready' }
  | { readonly t: 'commit'; readonly partition: number; readonly epoch: number; readonly from: number; readonly ids: readonly string[] };
