/**
 * What a shadow component tells the service about itself: its own actions, as decisions on the
 * timeline of the target it serves (`POST {url}/v1/targets/{target}/decisions`). Reports are sent
 * one by one, in order, off the component's own work; a report the service cannot take is logged
 * (once per kind of failure until one gets through) and dropped, so a service that is down never
 * slows a data plane. Reports waiting beyond `maxQueue` are dropped and counted.
 */
import type { Logger } from '../obs/log.js';

/** One action a component took on its own. */
export interface TimelineReport {
  /** What it did, a lower-case code: `shadow-created`, `switched`, `failed-over`. */
  readonly action: string;
  /** What and why, in words (at most 500 characters are sent). */
  readonly message: string;
  /** Its figures: numbers, short strings, booleans (others are left out). */
  readonly evidence?: Record<string, unknown>;
  /** When, ms since the epoch. */
  readonly at: number;
}

/** Where reports go and who sends them. */
export interface TimelineOptions {
  /** The service's base URL. */
  readonly url: string;
  readonly target: string;
  /** The component's name as the timeline shows it. */
  readonly component: string;
  readonly kind: 'traffic' | 'partitions' | 'volumes' | 'sql';
  /** Bearer token for the service, when it has one. */
  readonly token?: string;
  readonly maxQueue?: number;
  readonly log: Logger;
}

/** Sends a component's reports to the service in order; see the file comment. */
export class TimelineReporter {
  private readonly queue: TimelineReport[] = [];
  private sending: Promise<void> | undefined;
  private lastFailure: string | undefined;
  /** Reports dropped because the queue was full or the service refused or could not be reached. */
  dropped = 0;
  sent = 0;

  constructor(private readonly options: TimelineOptions) {}

  /** Queues a report and sends it when those before it are through. */
  report(r: TimelineReport): void {
    if (this.queue.length >= (this.options.maxQueue ?? 1000)) {
      this.dropped++;
      return;
    }
    this.queue.push(r);
    this.sending ??= this.drain().finally(() => (this.sending = undefined));
  }

  /** Resolves once every queued report has been sent or dropped. */
  async flush(): Promise<void> {
    while (this.sending) await this.sending;
  }

  private async drain(): Promise<void> {
    const o = this.options;
    for (let r = this.queue.shift(); r; r = this.queue.shift()) {
      const body = {
        component: o.component,
        kind: o.kind,
        action: r.action,
        message: r.message.slice(0, 500),
        evidence: plain(r.evidence),
        at: Math.round(r.at),
      };
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (o.token) headers.authorization = `Bearer ${o.token}`;
      let failure: string | undefined;
      try {
        const res = await fetch(`${o.url.replace(/\/$/, '')}/v1/targets/${encodeURIComponent(o.target)}/decisions`, { method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(5000) });
        const text = await res.text();
        if (!res.ok) failure = `HTTP ${res.status}: ${safeDetail(text)}`;
      } catch (err) {
        failure = (err as Error).message;
      }
      if (failure === undefined) {
        this.sent++;
        this.lastFailure = undefined;
        continue;
      }
      this.dropped++;
      if (failure !== this.lastFailure) o.log.warn({ target: o.target, action: r.action, err: failure }, 'the service did not take a timeline report; it is dropped');
      this.lastFailure = failure;
    }
  }
}

/** The evidence as the service takes it: at most 32 keys of numbers, short strings, booleans or null. */
function plain(evidence: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(evidence ?? {})) {
    if (Object.keys(out).length >= 32) break;
    if ((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean' || v === null) out[k.slice(0, 64)] = v;
    else if (typeof v === 'string') out[k.slice(0, 64)] = v.slice(0, 200);
  }
  return out;
}

/** The `detail` of a problem+json answer, else the start of the text. */
function safeDetail(text: string): string {
  try {
    const p = JSON.parse(text) as { detail?: string; code?: string };
    return [p.code, p.detail].filter(Boolean).join(' ') || text.slice(0, 200);
  } catch {
    return text.slice(0, 200);
  }
}
