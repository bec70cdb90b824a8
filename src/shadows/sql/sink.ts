/**
 * Sends RequestEvents to the control plane (`POST {controlUrl}/v1/events`, NDJSON) in batches,
 * off the forwarding path: `add` only appends to a bounded buffer (events past the bound are
 * dropped and counted); a timer or a full batch triggers a send; a failed send drops its batch and
 * counts it. Without a control URL it only keeps counts (user names are never logged).
 */
import { every, realClock, type Clock } from '../../core/clock.js';
import type { RequestEvent } from '../../model/event.js';
import { logger, RepeatWarning } from '../../obs/log.js';
import { describeProblem } from '../../api/problem.js';

const warnings = new RepeatWarning(logger('sql-sink'));

/** Settings of an EventSink. */
export interface EventSinkOptions {
  /** Base URL of the control plane; absent means count only. */
  controlUrl?: string;
  /** Bearer token of the control plane, when it has one. */
  token?: string;
  /** Most events kept while waiting to be sent (default 10 000). */
  maxBuffered?: number;
  /** Events per POST (default 500). */
  batchSize?: number;
  /** Longest wait before a partial batch is sent, ms (default 1000). */
  flushMs?: number;
  /** Time source of the flush timer; default the wall clock. */
  clock?: Clock;
}

/** Counters of an EventSink. */
export interface SinkStats {
  accepted: number;
  sent: number;
  /** Dropped because the buffer was full. */
  droppedFull: number;
  /** Dropped because their POST failed. */
  droppedSendFailed: number;
  sendFailures: number;
}

/** Batching, bounded, lossy-by-design event sender. Call close() to flush and stop the timer. */
export class EventSink {
  private buffer: RequestEvent[] = [];
  private sending: Promise<void> | undefined;
  private readonly stopTimer: () => void;
  private readonly maxBuffered: number;
  private readonly batchSize: number;
  readonly stats: SinkStats = { accepted: 0, sent: 0, droppedFull: 0, droppedSendFailed: 0, sendFailures: 0 };

  constructor(private readonly options: EventSinkOptions = {}) {
    this.maxBuffered = options.maxBuffered ?? 10_000;
    this.batchSize = options.batchSize ?? 500;
    this.stopTimer = every(options.clock ?? realClock, options.flushMs ?? 1000, () => void this.flush(), { background: true });
  }

  /** Queues one event; never blocks and never throws. */
  add(event: RequestEvent): void {
    if (this.buffer.length >= this.maxBuffered) { this.stats.droppedFull++; return; }
    this.buffer.push(event);
    this.stats.accepted++;
    if (this.buffer.length >= this.batchSize) void this.flush();
  }

  /** Sends what is buffered (one POST per batch); resolves when done. Failures are counted, not thrown. */
  flush(): Promise<void> {
    if (this.sending) return this.sending;
    this.sending = this.drain().finally(() => { this.sending = undefined; });
    return this.sending;
  }

  private async drain(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.splice(0, this.batchSize);
      if (!this.options.controlUrl) { this.stats.sent += batch.length; continue; }
      try {
        const res = await fetch(new URL('/v1/events', this.options.controlUrl), {
          method: 'POST',
          headers: { 'content-type': 'application/x-ndjson', ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}) },
          body: batch.map((e) => JSON.stringify(e)).join('\n') + '\n',
          signal: AbortSignal.timeout(5000),
        });
        const text = await res.text();
        if (!res.ok) throw new Error(describeProblem(res.status, text));
        this.stats.sent += batch.length;
      } catch (err) {
        this.stats.sendFailures++;
        this.stats.droppedSendFailed += batch.length;
        warnings.warn((err as Error).message, { err: (err as Error).message, events: batch.length }, 'event batch dropped');
      }
    }
  }

  /** Flushes and stops the timer. */
  async close(): Promise<void> {
    this.stopTimer();
    await this.flush();
  }
}
