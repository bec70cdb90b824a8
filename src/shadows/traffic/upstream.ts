/**
 * An upstream origin: its keep-alive connection pool, active health checks and passive outlier
 * detection; and the circuit breaker that guards mirrors to a shadow.
 */
import http from 'node:http';
import type { Clock } from '../../core/clock.js';
import type { HealthConfig } from './config.js';

/**
 * One upstream origin (`http://host:port`). `available` is false while active checks say
 * unhealthy or while passive outlier detection has ejected it. Health checks never throw; a
 * failed probe only counts.
 */
export class Upstream {
  readonly hostname: string;
  readonly port: number;
  readonly agent: http.Agent;
  healthy = true;
  /** Latency of the last successful probe, ms. */
  lastProbeMs = 0;
  /** Consecutive successful probes, and when that streak began (0 when none). */
  okStreak = 0;
  okStreakSince = 0;
  /** Set when the upstream was unhealthy or ejected at any time; read by migrations (primary recovery). */
  degradedSince: number | undefined;
  private ejectedUntil = 0;
  private consecutiveFailures = 0;
  private probeOk = 0;
  private probeFail = 0;
  private stopTimer: (() => void) | undefined;
  private health: HealthConfig | undefined;
  /** Bumped on every (re)configuration and on close, so a probe finishing late schedules nothing. */
  private generation = 0;

  constructor(readonly origin: string, maxSockets: number, private readonly clock: Clock) {
    const u = new URL(origin);
    this.hostname = u.hostname;
    this.port = Number(u.port || 80);
    this.agent = new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: Math.min(maxSockets, 256), scheduling: 'lifo' });
  }

  /** Healthy by active checks and not ejected by outlier detection. */
  get available(): boolean {
    return this.healthy && this.clock.now() >= this.ejectedUntil;
  }

  /** Whether outlier detection currently ejects the upstream. */
  get ejected(): boolean {
    return this.clock.now() < this.ejectedUntil;
  }

  /** Passive outlier detection: reports the outcome of one live request. */
  observe(failed: boolean, cfg: HealthConfig): void {
    if (!failed) {
      this.consecutiveFailures = 0;
      return;
    }
    if (++this.consecutiveFailures >= cfg.outlierConsecutiveFailures) {
      this.consecutiveFailures = 0;
      this.ejectedUntil = this.clock.now() + cfg.outlierEjectMs;
      this.degradedSince ??= this.clock.now();
    }
  }

  /** Starts (or restarts with new settings) active health checks; a null path stops them. */
  configureHealth(cfg: HealthConfig): void {
    this.health = cfg;
    this.stopTimer?.();
    this.stopTimer = undefined;
    const generation = ++this.generation;
    if (cfg.path === null) {
      this.healthy = true;
      return;
    }
    const loop = (): void => {
      if (generation !== this.generation) return;
      this.stopTimer = this.clock.setTimer(cfg.intervalMs, () => {
        void this.probe().then(loop);
      });
    };
    loop();
  }

  /** Runs one probe now and updates the health state; resolves when done, never rejects. */
  probe(): Promise<void> {
    const cfg = this.health;
    if (!cfg || cfg.path === null) return Promise.resolve();
    const started = this.clock.monotonic();
    return new Promise<void>((resolve) => {
      const req = http.get({ host: this.hostname, port: this.port, path: cfg.path!, agent: this.agent, timeout: cfg.timeoutMs }, (res) => {
        res.resume();
        res.on('end', () => {
          const ok = res.statusCode! < 500;
          if (ok) this.lastProbeMs = this.clock.monotonic() - started;
          this.probeResult(ok, cfg);
          resolve();
        });
        res.on('error', () => { this.probeResult(false, cfg); resolve(); });
      });
      req.on('timeout', () => req.destroy(new Error('probe timeout')));
      req.on('error', () => {
        this.probeResult(false, cfg);
        resolve();
      });
    });
  }

  private probeResult(ok: boolean, cfg: HealthConfig): void {
    if (ok) {
      if (this.okStreak++ === 0) this.okStreakSince = this.clock.now();
      this.probeFail = 0;
      if (!this.healthy && ++this.probeOk >= cfg.healthyThreshold) this.healthy = true;
    } else {
      this.okStreak = 0;
      this.probeOk = 0;
      if (this.healthy && ++this.probeFail >= cfg.unhealthyThreshold) {
        this.healthy = false;
        this.degradedSince ??= this.clock.now();
      }
    }
  }

  /** Health as shown by the admin API. */
  status(): { origin: string; healthy: boolean; ejected: boolean; available: boolean; lastProbeMs: number } {
    return {
      origin: this.origin,
      healthy: this.healthy,
      ejected: this.ejected,
      available: this.available,
      lastProbeMs: Math.round(this.lastProbeMs * 100) / 100,
    };
  }

  /** Stops health checks and closes pooled connections. */
  close(): void {
    this.generation++;
    this.stopTimer?.();
    this.agent.destroy();
  }
}

/**
 * A circuit breaker: `failureThreshold` consecutive failures open it for `cooldownMs`; then one
 * probe request is let through (half-open) and its outcome closes or re-opens it.
 */
export class Breaker {
  private failures = 0;
  private openUntil = 0;
  private probing = false;
  constructor(private threshold: number, private cooldownMs: number, private readonly clock: Clock) {}

  /** Applies new settings without losing state. */
  configure(threshold: number, cooldownMs: number): void {
    this.threshold = threshold;
    this.cooldownMs = cooldownMs;
  }

  /** Whether a request may pass now; in half-open state only one at a time. */
  allow(): boolean {
    if (this.failures < this.threshold) return true;
    if (this.clock.now() < this.openUntil || this.probing) return false;
    this.probing = true;
    return true;
  }

  /** True while open (requests refused). */
  get open(): boolean {
    return this.failures >= this.threshold;
  }

  /** A request that `allow` let through was not sent after all: frees the half-open probe. */
  abandon(): void {
    this.probing = false;
  }

  /** Reports a request outcome. */
  record(ok: boolean): void {
    this.probing = false;
    if (ok) {
      this.failures = 0;
      return;
    }
    this.failures++;
    if (this.failures >= this.threshold) this.openUntil = this.clock.now() + this.cooldownMs;
  }
}
