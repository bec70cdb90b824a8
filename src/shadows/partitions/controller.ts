/**
 * The control loop of the stream service: every window it records each partition's measured
 * utilisation, forecasts it with the forecasting engine, asks a policy (proactive shadowing or the
 * reactive baseline) and carries out the actions through the service. Optionally forwards the
 * per-partition figures to the Shadow Store (`POST {controlUrl}/v1/samples`).
 */
import { logger } from '../../obs/log.js';
import { decideReactive, decideShadow, DEFAULT_SHADOW_POLICY, shadowPolicyProblems, type PartitionAction, type PartitionInput, type ShadowPolicyConfig } from './policy.js';
import { PartitionForecaster, type PartitionForecastOptions } from './forecast.js';
import type { PartitionWindow, StreamService } from './service.js';

const log = logger('stream-control');

/** Options of a PartitionController. */
export interface ControllerOptions {
  readonly policy: 'shadow' | 'reactive';
  readonly config?: Partial<ShadowPolicyConfig>;
  /** Window length in ms (must match the service's), to turn the config's ms into steps. */
  readonly windowMs: number;
  /**
   * Forecast horizon in windows, default 8; stretched to cover the lead time a shadow needs
   * (creation and backfill, learned from the service's caught-up events, plus the decision's own
   * window and `imminentSteps`) when that is longer.
   */
  readonly horizon?: number;
  /** Forecast model settings. */
  readonly forecast?: PartitionForecastOptions;
  /** Shadow Store base URL; when set, figures are posted every window. */
  readonly controlUrl?: string;
  /** Bearer token of the control plane, when it has one. */
  readonly token?: string;
  /** Target name for the samples, default `stream`. */
  readonly target?: string;
  /** Called with every action taken (or failed). */
  readonly onAction?: (a: PartitionAction, error?: string) => void;
}

/** Weight of the newest caught-up time in the learned lead time. */
const LEAD_ALPHA = 0.5;

/** Drives a StreamService from its windows. `stop()` detaches it. */
export class PartitionController {
  private readonly forecaster: PartitionForecaster;
  /** Learned time from shadow creation to caught-up, ms (EWMA); one window until first seen. */
  private catchUpMs: number;
  /** CPU time spent deciding (forecasts, policy), µs, and the windows it covers; for cost reports. */
  readonly cost = { cpuMicros: 0, windows: 0 };
  private readonly lastRelease = new Map<number, number>();
  private readonly config: ShadowPolicyConfig;
  private busy = false;
  private stopped = false;

  constructor(private readonly svc: StreamService, private readonly options: ControllerOptions) {
    this.config = { ...DEFAULT_SHADOW_POLICY, ...options.config };
    const [problem] = shadowPolicyProblems(this.config);
    if (problem) throw new RangeError(`partition policy ${problem.field} ${problem.message}`);
    this.forecaster = new PartitionForecaster(svc.partitions().length, options.forecast);
    this.catchUpMs = options.windowMs;
    svc.onWindow((w) => void this.tick(w));
    // Failover placement, like shadow placement, weighs each partition by its predicted peak.
    if (options.policy === 'shadow') svc.setLoadEstimate((p) => Math.max(0, ...this.forecast(p, options.horizon ?? 8)));
    svc.onEvent((e) => {
      if (e.kind === 'released' && e.partition !== undefined) this.lastRelease.set(e.partition, e.at);
      const took = e.kind === 'caught-up' ? Number(e.evidence?.tookMs) : NaN;
      if (Number.isFinite(took)) this.catchUpMs = LEAD_ALPHA * took + (1 - LEAD_ALPHA) * this.catchUpMs;
    });
  }

  /**
   * Windows a shadow needs before it can take over: the learned creation-to-caught-up time plus
   * the window in which the need shows up, rounded up.
   */
  get leadSteps(): number {
    return Math.ceil((this.catchUpMs + this.options.windowMs) / this.options.windowMs);
  }

  /** Forecast of a partition's utilisation for the next `h` windows (see PartitionForecaster; ≥ 0). */
  forecast(partition: number, h: number): number[] {
    return this.forecaster.forecast(partition, h);
  }

  private async tick(windows: PartitionWindow[]): Promise<void> {
    if (this.stopped) return;
    const cpu = process.cpuUsage();
    const utilisations: number[] = [];
    for (const w of windows) utilisations[w.partition] = w.utilisation;
    if (this.options.policy === 'shadow') this.forecaster.observe(utilisations);
    else this.forecaster.record(utilisations);
    if (this.options.controlUrl) void this.post(windows);
    // One decision round at a time: a switch-over may outlast a window.
    if (this.busy) return this.charge(cpu);
    this.busy = true;
    try {
      const now = windows[0]?.at ?? 0;
      const reactiveSteps = Math.max(1, Math.round(this.config.reactiveWindowMs / this.options.windowMs));
      const horizon = Math.max(this.options.horizon ?? 8, this.leadSteps + this.config.imminentSteps);
      const inputs: PartitionInput[] = this.svc.partitions().map((v) => {
        const ys = this.forecaster.measured(v.partition);
        const recent = ys.slice(-reactiveSteps);
        return {
          partition: v.partition, worker: v.worker, utilisation: ys.at(-1) ?? 0, recentMean: recent.reduce((s, x) => s + x, 0) / Math.max(1, recent.length),
          measured: recent, forecast: this.options.policy === 'shadow' ? this.forecast(v.partition, horizon) : [],
          standby: v.standby && { worker: v.standby.worker, role: v.standby.role, since: v.standby.since, caughtUp: v.standby.caughtUpAt !== undefined },
          pinned: v.pinned, forbidden: v.forbidden, lastReleaseAt: this.lastRelease.get(v.partition),
        };
      });
      const actions = this.options.policy === 'shadow'
        ? decideShadow(inputs, this.svc.workerCount, now, this.config)
        : decideReactive(inputs, this.svc.workerCount, reactiveSteps, this.config);
      this.charge(cpu);
      await Promise.all(actions.map((a) => this.apply(a)));
    } finally {
      this.busy = false;
    }
  }

  private charge(since: NodeJS.CpuUsage): void {
    const used = process.cpuUsage(since);
    this.cost.cpuMicros += used.user + used.system;
    this.cost.windows++;
  }

  private async apply(a: PartitionAction): Promise<void> {
    try {
      if (a.kind === 'create') await this.svc.createShadow(a.partition, a.worker, a.reason, a.evidence);
      else if (a.kind === 'switch') await this.svc.switchOver(a.partition, a.reason, { ...a.evidence, urgent: a.urgent ? 1 : 0 });
      else await this.svc.release(a.partition, a.reason, a.evidence);
      this.options.onAction?.(a);
    } catch (err) {
      log.warn({ err, action: a }, 'stream action failed');
      this.options.onAction?.(a, (err as Error).message);
    }
  }

  private async post(windows: PartitionWindow[]): Promise<void> {
    const target = this.options.target ?? 'stream';
    const samples = windows.flatMap((w) => {
      const labels = { partition: String(w.partition), worker: String(w.worker) };
      return [
        { target, metric: 'partition_utilisation', labels, at: w.at, value: w.utilisation },
        { target, metric: 'partition_throughput', labels, at: w.at, value: w.throughput },
        { target, metric: 'partition_backlog', labels, at: w.at, value: w.backlog },
        { target, metric: 'partition_lag_p99_ms', labels, at: w.at, value: w.lagP99Ms },
      ];
    });
    try {
      const res = await fetch(`${this.options.controlUrl}/v1/samples`, { method: 'POST', headers: { 'content-type': 'application/json', ...(this.options.token ? { authorization: `Bearer ${this.options.token}` } : {}) }, body: JSON.stringify(samples) });
      if (!res.ok) log.warn({ status: res.status }, 'Shadow Store refused partition samples');
    } catch (err) {
      log.warn({ err }, 'Shadow Store unreachable; partition samples dropped');
    }
  }

  /** Stops deciding (the service keeps running). */
  stop(): void {
    this.stopped = true;
    this.svc.setLoadEstimate(undefined);
  }
}
