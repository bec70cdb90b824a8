/**
 * A volume's part of its target's timeline: every interval its figures go to the Shadow Store as
 * samples of the target (reads and writes per second, the live device's latency, the share of
 * reads the fast tiers served, blocks copied up), so the service forecasts and detects on them like
 * any metric; and what the volume did on its own since the last interval — failed over to its
 * shadow, failed back, copied blocks up — is reported as decisions on the target's timeline
 * (src/shadows/timeline.ts). Read from the volume's statistics, off its I/O path.
 */
import { realClock, type Clock } from '../../core/clock.js';
import type { Logger } from '../../obs/log.js';
import { TimelineReporter } from '../timeline.js';
import type { Volume, VolumeStats } from './volume.js';

/** Where the figures go. */
export interface VolumeTelemetryOptions {
  /** The service's base URL. */
  readonly url: string;
  readonly target: string;
  /** This component's name on the timeline. */
  readonly component: string;
  readonly token?: string;
  readonly log: Logger;
}

/** Reports one volume; `tick()` once per interval (the CLI runs it on a timer). */
export class VolumeTelemetry {
  private last: VolumeStats;
  private lastAt: number;
  private readonly timeline: TimelineReporter;
  private failures = 0;

  constructor(
    private readonly volume: Volume,
    private readonly options: VolumeTelemetryOptions,
    private readonly clock: Clock = realClock,
  ) {
    this.last = volume.stats();
    this.lastAt = clock.now();
    this.timeline = new TimelineReporter({ url: options.url, target: options.target, component: options.component, kind: 'volumes', token: options.token, log: options.log });
  }

  /** Posts the interval's samples and reports what changed since the last tick. */
  async tick(): Promise<void> {
    const at = this.clock.now();
    const s = this.volume.stats();
    const prev = this.last;
    const seconds = Math.max(0.001, (at - this.lastAt) / 1000);
    this.last = s;
    this.lastAt = at;
    const volume = s.name;
    if (s.state !== prev.state) {
      const over = s.state === 'failed-over';
      this.timeline.report({
        action: over ? 'failed-over' : 'failed-back', at,
        message: over ? `volume ${volume} failed over to its shadow (${s.failoverReason ?? 'no reason given'})` : `volume ${volume} is back on its live device`,
        evidence: { volume, liveLatencyEwmaMs: s.liveLatencyEwmaMs, liveErrors: s.liveErrors, shadowStaleBlocks: s.shadowStaleBlocks },
      });
    }
    const copied = s.copiesDone - prev.copiesDone;
    if (copied > 0) {
      this.timeline.report({ action: 'copied-up', at, message: `volume ${volume}: ${copied} block${copied > 1 ? 's' : ''} copied up to the fast tier`, evidence: { volume, blocks: copied, promotions: s.promotions - prev.promotions } });
    }
    const reads = s.reads - prev.reads;
    const fast = fastReads(s) - fastReads(prev);
    const labels = { volume };
    const samples = [
      { metric: 'volume_reads_per_second', value: reads / seconds },
      { metric: 'volume_writes_per_second', value: (s.writes - prev.writes) / seconds },
      { metric: 'volume_live_latency_ms', value: s.liveLatencyEwmaMs },
      { metric: 'volume_blocks_copied_up', value: copied },
      ...(reads > 0 ? [{ metric: 'volume_fast_read_ratio', value: fast / reads }] : []),
    ].filter((x) => Number.isFinite(x.value)).map((x) => ({ target: this.options.target, labels, at, ...x }));
    await this.post(samples);
  }

  /** Resolves once every report queued so far has been sent or dropped. */
  flush(): Promise<void> {
    return this.timeline.flush();
  }

  private async post(samples: readonly unknown[]): Promise<void> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.options.token) headers.authorization = `Bearer ${this.options.token}`;
    try {
      const res = await fetch(`${this.options.url.replace(/\/$/, '')}/v1/samples`, { method: 'POST', headers, body: JSON.stringify(samples), signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      this.failures = 0;
    } catch (err) {
      // once per run of failures: a service that is down is no reason to fill the log
      if (this.failures++ === 0) this.options.log.warn({ target: this.options.target, err: (err as Error).message }, 'the service did not take the volume\'s samples; they are dropped');
    }
  }
}

/** Reads served by the fast tiers (every tier but the live device and the shadow). */
function fastReads(s: VolumeStats): number {
  return Object.entries(s.readsServedBy).filter(([tier]) => tier !== 'live' && !tier.startsWith('shadow')).reduce((sum, [, n]) => sum + n, 0);
}
