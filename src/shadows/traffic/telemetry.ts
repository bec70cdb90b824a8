/**
 * Request metadata to the control plane: events are pre-sampled by request id, buffered (bounded,
 * drops counted) and sent in NDJSON batches to `POST {url}/v1/events` off the request path. User
 * ids go only to the control plane (which pseudonymises them); they are never logged here.
 */
import http from 'node:http';
import { every, realClock, type Clock } from '../../core/clock.js';
import type { RequestEvent } from '../../model/event.js';
import { keepSample } from '../../ingest/sampler.js';
import { logger, RepeatWarning } from '../../obs/log.js';
import { describeProblem } from '../../api/problem.js';
import type { ControlConfig } from './config.js';
import type { Counter } from 'prom-client';

const warnings = new RepeatWarning(logger('traffic.telemetry'));

/**
 * A bounded event buffer with a background sender. `offer` is O(1) and never blocks or throws;
 * a full buffer drops the event (counted `dropped_buffer`); a failed POST drops its batch (counted
 * `dropped_send`, logged without the events, with the service's reason, once a minute per reason).
 */
export class EventSink {
  private buffer: RequestEvent[] = [];
  private sending = false;
  private readonly stopTimer: () => void;
  private readonly endpoint: URL;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
  private idle: (() => void)[] = [];

  /** Flushes every `cfg.flushIntervalMs` of `clock` time; `token` is the control plane's bearer token, when it has one. */
  constructor(
    private readonly cfg: ControlConfig,
    private readonly counter: Counter,
    private readonly clock: Clock = realClock,
    private readonly token?: string,
  ) {
    this.endpoint = new URL('/v1/events', cfg.url);
    this.stopTimer = every(clock, cfg.flushIntervalMs, () => this.flush(), { background: true });
  }

  /** Whether a request with this id is kept at the target's sampling rate (the same verdict the service re-applies). */
  sampled(requestId: string): boolean {
    return keepSample(this.cfg.sampleRate, requestId);
  }

  /** Queues one (already sampled) event. */
  offer(ev: RequestEvent): void {
    if (this.buffer.length >= this.cfg.bufferLimit) {
      this.counter.inc({ outcome: 'dropped_buffer' });
      return;
    }
    this.buffer.push(ev);
    this.counter.inc({ outcome: 'queued' });
    if (this.buffer.length >= this.cfg.batchSize) this.flush();
  }

  /** Starts sending what is buffered, one batch at a time, unless a send is already running. */
  flush(): void {
    if (this.sending || this.buffer.length === 0) return;
    const batch = this.buffer.splice(0, this.cfg.batchSize);
    this.sending = true;
    const body = batch.map((e) => JSON.stringify(e)).join('\n') + '\n';
    const req = http.request(this.endpoint, { method: 'POST', agent: this.agent, timeout: 10_000, headers: { 'content-type': 'application/x-ndjson', 'content-length': Buffer.byteLength(body), ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (c: string) => {
        if (text.length < 64 * 1024) text += c; // enough for the reason; the rest is drained
      });
      res.on('end', () => this.done(batch.length, res.statusCode! < 300 ? undefined : describeProblem(res.statusCode!, text)));
    });
    req.on('timeout', () => req.destroy(new Error('control plane did not answer within 10 s')));
    req.on('error', (err) => this.done(batch.length, err.message));
    req.end(body);
  }

  private done(n: number, error: string | undefined): void {
    this.sending = false;
    if (error) {
      this.counter.inc({ outcome: 'dropped_send' }, n);
      warnings.warn(error, { events: n, error, target: this.cfg.target }, 'events not delivered to the control plane');
    } else this.counter.inc({ outcome: 'sent' }, n);
    if (this.buffer.length >= this.cfg.batchSize || (this.idle.length > 0 && this.buffer.length > 0)) this.flush();
    else if (this.buffer.length === 0 && !this.sending) for (const f of this.idle.splice(0)) f();
  }

  /** Sends everything buffered and resolves when the buffer is empty (or after `timeoutMs`). */
  async drain(timeoutMs = 5000): Promise<void> {
    if (this.buffer.length === 0 && !this.sending) return;
    await new Promise<void>((resolve) => {
      const cancel = this.clock.setTimer(timeoutMs, resolve);
      this.idle.push(() => {
        cancel();
        resolve();
      });
      this.flush();
    });
  }

  /** Stops the flush timer and closes connections (after `drain` if events matter). */
  close(): void {
    this.stopTimer();
    this.agent.destroy();
  }
}
