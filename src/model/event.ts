/**
 * The metadata of one sampled request to a managed data system. It never carries a
 * value, a literal or a payload: the ingestion schema rejects unknown fields so nothing else can
 * slip in.
 */
export type Operation = 'read' | 'write';

/** One request's metadata as a client (an interceptor, a proxy, an SDK) sends it. */
export interface RequestEvent {
  /** The managed target's name. */
  target: string;
  op: Operation;
  /** Table (or collection, topic) read or written. */
  table?: string;
  /** Columns (or fields) touched. */
  columns?: string[];
  /** Route template (`GET /users/:id`) or statement fingerprint. */
  route?: string;
  /** Bytes moved (request + response), an estimate where exact figures are unknown. */
  bytes: number;
  rows?: number;
  latencyMs: number;
  /** Protocol status (HTTP status, 0 for none). */
  status?: number;
  /** Error class or SQLSTATE when the request failed; absent on success. */
  error?: string;
  /** The caller's user id in clear: the service replaces it with a keyed pseudonym before storing. */
  user?: string;
  /** Request id: when present the sampling verdict is a hash of it, the same in every component. */
  requestId?: string;
  /**
   * The rate the sender kept requests at (0 < r <= 1; absent: 1, not pre-sampled). The event
   * weighs 1 / min(this, the target's rate), so a count is right whatever rate each sender uses.
   */
  samplingRate?: number;
  /** When the request started, ms since the epoch (the HTTP API also takes an ISO-8601 string). */
  at: number;
}

/** One resource-metric point for a target, e.g. `cpu_utilisation` of `orders-db`. */
export interface MetricSample {
  target: string;
  /** Metric name, Prometheus style: `[a-zA-Z_:][a-zA-Z0-9_:]*`. */
  metric: string;
  /** Bounded label set (at most 8 labels). */
  labels?: Record<string, string>;
  /** ms since the epoch. */
  at: number;
  value: number;
}
