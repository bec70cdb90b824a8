/**
 * A route at runtime: its upstreams, mirror, comparison statistics, request windows, live weight
 * and migration; and the router that picks a route by host and path prefix.
 */
import type { IncomingMessage } from 'node:http';
import type { Clock } from '../../core/clock.js';
import { ShadowplaneError } from '../../core/errors.js';
import { sampleUnit } from '../../ingest/sampler.js';
import { logger } from '../../obs/log.js';
import { ComparisonStats, IgnoreRules, compareResponses, judge, type CapturedResponse } from './compare.js';
import type { MigrationPolicy, RouteConfig } from './config.js';
import { Migration, type MigrationRecord, type MigrationView } from './migration.js';
import { Mirror } from './mirror.js';
import { bind, RequestWindow, type BoundCounter, type ProxyMetrics } from './stats.js';
import type { Upstream } from './upstream.js';

const log = logger('traffic.route');

/** Gets (creating on first use) the shared Upstream of an origin. */
export type UpstreamPool = (origin: string) => Upstream;

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** One route's live state. Reconfigured in place by `update`, so counters and migrations survive. */
export class RouteRuntime {
  cfg!: RouteConfig;
  primary!: Upstream;
  shadow: Upstream | undefined;
  secondary: Upstream | undefined;
  mirror: Mirror | undefined;
  /** Share of live traffic the shadow serves now (the configured weight, or the migration's). */
  weight = 0;
  migration: Migration | undefined;
  readonly comparison = new ComparisonStats();
  /** Comparison counts of the current migration step only. */
  readonly stepComparison = new ComparisonStats();
  readonly primaryWindow = new RequestWindow();
  readonly shadowWindow = new RequestWindow();
  private ignore = new IgnoreRules([]);
  private templates: { re: RegExp; name: string }[] = [];
  private hostExact: string | undefined;
  private hostSuffix: string | undefined;
  private readonly served: Record<'primary' | 'shadow', BoundCounter[]>;

  constructor(
    cfg: RouteConfig,
    private readonly pool: UpstreamPool,
    private readonly metrics: ProxyMetrics,
    private readonly clock: Clock,
    private readonly onMigrationRecord?: (migration: Migration, record: MigrationRecord) => void,
  ) {
    const served = (upstream: string) => STATUS_CLASSES.map((code) => bind(metrics.requests, { route: cfg.name, upstream, code }));
    this.served = { primary: served('primary'), shadow: served('shadow') };
    this.update(cfg);
  }

  get name(): string {
    return this.cfg.name;
  }

  /** Applies a new configuration of the same route name. A running migration keeps its weight. */
  update(cfg: RouteConfig): void {
    this.cfg = cfg;
    this.primary = this.pool(cfg.primary);
    this.shadow = cfg.shadow ? this.pool(cfg.shadow) : undefined;
    this.secondary = cfg.secondary ? this.pool(cfg.secondary) : undefined;
    for (const u of [this.primary, this.shadow, this.secondary]) u?.configureHealth(cfg.health);
    if (this.shadow) {
      if (this.mirror) this.mirror.configure(cfg.mirror, this.shadow);
      else {
        const onInFlight = (n: number) => this.metrics.mirrorsInFlight.set({ route: cfg.name }, n);
        this.mirror = new Mirror(cfg.mirror, this.shadow, this.metrics.mirrors, cfg.name, this.clock, onInFlight);
      }
    } else this.mirror = undefined;
    this.ignore = new IgnoreRules(cfg.compare.ignore);
    this.templates = cfg.templates.map((t) => ({
      name: t,
      re: new RegExp('^' + t.split('/').map((s) => (s.startsWith(':') ? '[^/]+' : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/') + '/?$'),
    }));
    const host = cfg.host?.toLowerCase();
    this.hostExact = host && !host.startsWith('*.') ? host : undefined;
    this.hostSuffix = host?.startsWith('*.') ? host.slice(1) : undefined;
    const running = this.migration && (this.migration.status === 'running' || this.migration.status === 'paused');
    if (!running) this.setWeight(this.shadow ? cfg.weight : 0);
  }

  /** Sets the live shadow share (migrations and the admin API call this). */
  setWeight(w: number): void {
    this.weight = w;
    this.metrics.weight.set({ route: this.cfg.name }, w);
  }

  /** Whether this route matches the (lower-case, port-less) host and the path. */
  matches(host: string, path: string): boolean {
    if (this.hostExact !== undefined && host !== this.hostExact) return false;
    if (this.hostSuffix !== undefined && !host.endsWith(this.hostSuffix)) return false;
    const prefix = this.cfg.pathPrefix;
    if (!path.startsWith(prefix)) return false;
    if (prefix.endsWith('/') || path.length === prefix.length) return true;
    const next = path.charCodeAt(prefix.length);
    return next === 47 /* / */ || next === 63 /* ? */;
  }

  /** Higher sorts first: exact host, then wildcard host, then any; longer prefixes first. */
  specificity(): number {
    return (this.hostExact ? 2_000_000 : this.hostSuffix ? 1_000_000 + this.hostSuffix.length * 1000 : 0) + this.cfg.pathPrefix.length;
  }

  /** Whether the shadow serves this request: weight (sticky by key when configured), health, failover. */
  servedByShadow(req: IncomingMessage): boolean {
    const shadow = this.shadow;
    if (!shadow) return false;
    const w = this.weight;
    if (w <= 0) return this.cfg.failover && !this.primary.available && shadow.available;
    if (!shadow.available) return false;
    if (w >= 1) return true;
    const key = this.stickyKey(req);
    return (key === undefined ? Math.random() : sampleUnit(`${this.cfg.name}\n${key}`)) < w;
  }

  private stickyKey(req: IncomingMessage): string | undefined {
    const s = this.cfg.sticky;
    if (!s) return undefined;
    if (s.header) {
      const v = req.headers[s.header.toLowerCase()];
      if (typeof v === 'string' && v) return v;
    }
    if (s.cookie) {
      const m = new RegExp(`(?:^|;\\s*)${s.cookie.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}=([^;]*)`).exec(req.headers.cookie ?? '');
      if (m?.[1]) return m[1];
    }
    return undefined;
  }

  /** Accounts one finished request: counters, the step window, passive outlier detection. */
  record(byShadow: boolean, status: number, latencyMs: number, failed: boolean): void {
    const cls = Math.min(4, Math.max(0, Math.floor(status / 100) - 1));
    this.served[byShadow ? 'shadow' : 'primary'][cls]!.inc();
    (byShadow ? this.shadowWindow : this.primaryWindow).record(latencyMs, failed);
    (byShadow ? this.shadow! : this.primary).observe(failed, this.cfg.health);
  }

  /** Compares a mirrored request's answers (called after the primary answer was sent). */
  compare(primary: CapturedResponse, shadow: CapturedResponse, secondary: CapturedResponse | undefined): void {
    const { headers } = this.cfg.compare;
    const diffs = compareResponses(primary, shadow, headers, this.ignore);
    const noise = secondary && diffs.length ? compareResponses(primary, secondary, headers, this.ignore) : undefined;
    const verdict = judge(diffs, noise);
    this.comparison.add(verdict);
    this.stepComparison.add(verdict);
    this.metrics.comparisons.inc({ route: this.cfg.name, result: verdict.result });
    for (const d of verdict.regressions) this.metrics.mismatchKinds.inc({ route: this.cfg.name, kind: d.kind });
  }

  /** The route template for telemetry: a configured template, else the path with id-like segments as `:id`. */
  template(path: string): string {
    const q = path.indexOf('?');
    const p = q >= 0 ? path.slice(0, q) : path;
    for (const t of this.templates) if (t.re.test(p)) return t.name;
    return p.replace(/\/(?:\d+|[0-9a-f]{8}-[0-9a-f-]{27,}|[0-9a-f]{16,})(?=\/|$)/gi, '/:id');
  }

  /**
   * Starts a migration with the route's policy merged with `overrides`. Throws
   * SHADOWPLANE_ERR_MIGRATION_STATE when the route has no shadow or a migration is active.
   */
  startMigration(policy: MigrationPolicy, reason: string, tickMs?: number): Migration {
    if (!this.shadow) throw new ShadowplaneError('SHADOWPLANE_ERR_MIGRATION_STATE', `route ${this.name} has no shadow to migrate to`);
    if (this.migration && (this.migration.status === 'running' || this.migration.status === 'paused')) {
      throw new ShadowplaneError('SHADOWPLANE_ERR_MIGRATION_STATE', `route ${this.name} has an active migration ${this.migration.id}`);
    }
    // Recovery is judged relative to this migration: only degradation seen from now on counts.
    this.primary.degradedSince = reason.includes('primary') ? this.clock.now() : undefined;
    this.migration = new Migration(this.name, policy, {
      clock: this.clock,
      setWeight: (w) => this.setWeight(w),
      resetWindow: () => {
        this.primaryWindow.reset();
        this.shadowWindow.reset();
        this.stepComparison.reset();
      },
      window: () => {
        const c = this.stepComparison.summary(0);
        return { primary: this.primaryWindow.summary(), shadow: this.shadowWindow.summary(), mismatchRate: c.mismatchRate, compared: c.compared };
      },
      primaryRecovered: () => this.primaryRecovered(policy),
      onRecord: this.onMigrationRecord,
    }, this.weight, reason, tickMs);
    log.info({ route: this.name, migration: this.migration.id, reason }, 'migration started');
    return this.migration;
  }

  /**
   * A primary that was degraded (unhealthy, ejected, or named degraded when the migration started)
   * is recovered when it is available again and its own window, or with too little traffic a
   * streak of health probes begun after the degradation, is within the recovery limits.
   */
  private primaryRecovered(p: MigrationPolicy): boolean {
    const primary = this.primary;
    if (primary.degradedSince === undefined || !primary.available) return false;
    const w = this.primaryWindow.summary();
    if (w.requests >= p.minRequests) return w.errorRate <= p.recoveryMaxErrorRate && w.p99Ms <= p.recoveryMaxP99Ms;
    // Too little live traffic to judge: good probes since the degradation, fast enough, decide.
    return this.cfg.health.path !== null && primary.okStreak >= this.cfg.health.healthyThreshold && primary.okStreakSince > primary.degradedSince &&
      primary.lastProbeMs <= p.recoveryMaxP99Ms;
  }

  /** The migration's view, if any. */
  migrationView(): MigrationView | undefined {
    return this.migration?.view();
  }

  /** Stops timers owned by the route. */
  close(): void {
    this.migration?.stop();
  }
}

/** Picks the most specific route for a request. */
export class Router {
  private routes: RouteRuntime[] = [];

  /** Replaces the route list (already built). */
  set(routes: RouteRuntime[]): void {
    this.routes = [...routes].sort((a, b) => b.specificity() - a.specificity());
  }

  /** All routes, most specific first. */
  list(): readonly RouteRuntime[] {
    return this.routes;
  }

  /** The route for this Host header and request target, or undefined. */
  match(hostHeader: string | undefined, url: string): RouteRuntime | undefined {
    let host = (hostHeader ?? '').toLowerCase();
    const colon = host.lastIndexOf(':');
    if (colon > 0 && !host.endsWith(']')) host = host.slice(0, colon);
    for (const r of this.routes) if (r.matches(host, url)) return r;
    return undefined;
  }
}
