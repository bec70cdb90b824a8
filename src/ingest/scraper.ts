/**
 * Pulls resource metrics from targets' Prometheus endpoints (text exposition format) on each
 * target's interval, and feeds them through the same ingest path as pushed samples. Every scrape
 * also records `up` (1 or 0) and `scrape_duration_seconds`, as Prometheus does.
 */
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import type { Clock } from '../core/clock.js';
import { durationMs } from '../core/schema.js';
import type { Logger } from '../obs/log.js';
import type { ScrapeSettings } from '../store/store.js';
import type { Ingestor } from './ingestor.js';
import type { WireSample } from './schemas.js';

/** The state of one target's scraping, as the API shows it. */
export interface ScrapeStatus {
  url: string;
  lastScrapeAt?: number;
  lastError?: string;
  samples?: number;
}

/**
 * What the scraper needs of the managed targets (the target registry provides it): their names,
 * each one's scrape settings, and a `change` event naming a target that was created, changed or
 * deleted.
 */
export interface ScrapeTargets {
  list(): readonly { readonly name: string }[];
  find(name: string): { readonly scrape?: ScrapeSettings } | undefined;
  on(event: 'change', listener: (name: string) => void): unknown;
  off(event: 'change', listener: (name: string) => void): unknown;
}

/** Scrapes every target that has `scrape` settings; follows target changes. */
export class Scraper {
  private readonly timers = new Map<string, () => void>();
  private readonly status = new Map<string, ScrapeStatus>();
  private readonly onChange = (name: string) => this.schedule(name);

  constructor(
    private readonly targets: ScrapeTargets,
    private readonly ingestor: Pick<Ingestor, 'ingestSamples'>,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly timeoutMs = 10_000,
  ) {}

  /** Starts scraping every target that asks for it. */
  start(): void {
    for (const t of this.targets.list()) this.schedule(t.name);
    this.targets.on('change', this.onChange);
  }

  /** Stops all scraping. */
  stop(): void {
    this.targets.off('change', this.onChange);
    for (const cancel of this.timers.values()) cancel();
    this.timers.clear();
  }

  /** The scrape state of `target`, if it is scraped. */
  statusOf(target: string): ScrapeStatus | undefined {
    return this.status.get(target);
  }

  /** Scrapes `target` once now; resolves when its samples are ingested (never rejects). */
  async scrapeOnce(target: string): Promise<void> {
    const record = this.targets.find(target);
    if (!record?.scrape) return;
    const { url } = record.scrape;
    const started = this.clock.now();
    const status: ScrapeStatus = { url, lastScrapeAt: started };
    const samples: WireSample[] = [];
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(this.timeoutMs), headers: { accept: 'text/plain;version=0.0.4' } });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      samples.push(...toSamples(target, parsePrometheusTextFormat(await res.text()), started));
      samples.push({ target, metric: 'up', at: started, value: 1 });
    } catch (err) {
      status.lastError = (err as Error).message;
      samples.push({ target, metric: 'up', at: started, value: 0 });
      this.log.warn({ target, url, err: status.lastError }, 'scrape failed');
    }
    samples.push({ target, metric: 'scrape_duration_seconds', at: started, value: (this.clock.now() - started) / 1000 });
    const result = this.ingestor.ingestSamples(samples);
    status.samples = result.accepted;
    if (result.rejected.length > 0 && !status.lastError) {
      const first = result.rejected[0].problems[0];
      status.lastError = `${result.rejected.length} samples rejected, e.g. ${first?.path}: ${first?.message}`;
    }
    this.status.set(target, status);
  }

  private schedule(name: string): void {
    this.timers.get(name)?.();
    this.timers.delete(name);
    const record = this.targets.find(name);
    if (!record?.scrape) {
      this.status.delete(name);
      return;
    }
    const every = durationMs(record.scrape.interval);
    const tick = () => {
      void this.scrapeOnce(name).finally(() => {
        if (this.timers.has(name)) this.timers.set(name, this.clock.setTimer(every, tick));
      });
    };
    this.timers.set(name, this.clock.setTimer(0, tick));
  }
}

/** Flattens metric families into samples: histograms and summaries as their usual series. */
function toSamples(target: string, families: ReturnType<typeof parsePrometheusTextFormat>, at: number): WireSample[] {
  const out: WireSample[] = [];
  const push = (metric: string, labels: Record<string, string> | undefined, value: string | undefined) => {
    const v = Number(value);
    if (value === undefined || !Number.isFinite(v)) return;
    const sample: WireSample = { target, metric, at, value: v };
    if (labels && Object.keys(labels).length > 0) sample.labels = labels;
    out.push(sample);
  };
  for (const family of families) {
    for (const m of family.metrics) {
      if (family.type === 'HISTOGRAM') {
        for (const [le, v] of Object.entries(m.buckets ?? {})) push(`${family.name}_bucket`, { ...m.labels, le }, v);
        push(`${family.name}_sum`, m.labels, m.sum);
        push(`${family.name}_count`, m.labels, m.count);
      } else if (family.type === 'SUMMARY') {
        for (const [quantile, v] of Object.entries(m.quantiles ?? {})) push(family.name, { ...m.labels, quantile }, v);
        push(`${family.name}_sum`, m.labels, m.sum);
        push(`${family.name}_count`, m.labels, m.count);
      } else {
        push(family.name, m.labels, m.value);
      }
    }
  }
  return out;
}
