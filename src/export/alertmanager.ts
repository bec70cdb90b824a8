/**
 * Alertmanager out: what the control loops find becomes alerts in an Alertmanager
 * (`POST /api/v2/alerts`), so the on-call tooling that already pages people pages them for
 * Shadowplane too. Three kinds, per controlled target:
 *
 * - `ShadowplaneAnomaly`: an anomaly event still going on (one alert per event), resolved at the
 *   event's end, or at once when it is triaged as a false positive;
 * - `ShadowplaneFailureRisk`: the latest decision's failure risk at or above `riskThreshold`,
 *   resolved when it falls below;
 * - `ShadowplaneActionFailed`: the target's latest scaling action failed (one alert per target,
 *   naming the latest failed decision), resolved when a later one succeeds.
 *
 * It reads the store on an interval, sends every firing alert again each time without `endsAt` (so
 * Alertmanager keeps it for its `resolve_timeout` past each send, on its own clock: alerts lapse on
 * their own if the service stops) and sends an alert once more with `endsAt` set when its
 * condition ends. Labels stay the same while an alert fires (its
 * identity in Alertmanager): scores, kinds and drivers go in the annotations, which name the drivers
 * and link to the dashboard. A failed send is logged and counted, and retried on the next round.
 */
import { Type, type Static } from '@sinclair/typebox';
import { Counter, type Registry } from 'prom-client';
import type { Clock } from '../core/clock.js';
import { Duration, durationMs, Labels } from '../core/schema.js';
import type { Logger } from '../obs/log.js';
import type { AnomalyRecord, Driver, RiskDriver } from '../model/detect.js';
import type { DecisionRecord } from '../model/decision.js';
import type { ShadowStore } from '../store/store.js';

/** `alerting` in the config. */
export const AlertingConfigSchema = Type.Object(
  {
    alertmanager: Type.Optional(Type.String({ pattern: '^https?://[^?#]+$', description: 'Base URL of the Alertmanager to send alerts to, e.g. `http://127.0.0.1:9093`. Without it no alerts are sent.', errorMessage: 'must be an http:// or https:// URL' })),
    interval: Duration('How often alerts are evaluated and the firing ones sent again.', '15s'),
    riskThreshold: Type.Number({ minimum: 0, maximum: 1, default: 0.5, description: 'A target\'s failure risk at or above this fires `ShadowplaneFailureRisk`.' }),
    externalUrl: Type.Optional(Type.String({ pattern: '^https?://[^?#]+$', description: 'The service\'s address as people reach it, for the dashboard links in alerts (default: `http://<server.host>:<server.port>`).', errorMessage: 'must be an http:// or https:// URL' })),
    labels: { ...Labels, description: 'Labels added to every alert (at most 16), e.g. `env: prod`.' },
  },
  { additionalProperties: false, default: {}, description: 'Alerts to an Alertmanager (docs/integrations.md): anomaly events, failure-risk crossings and failed actions of the controlled targets.' },
);

/** The alerting settings. */
export type AlertingConfig = Static<typeof AlertingConfigSchema>;

/** One alert as Alertmanager's API v2 takes it. */
export interface Alert {
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly startsAt: string;
  /** Absent while firing: Alertmanager then holds the alert for its resolve_timeout past each send. */
  readonly endsAt?: string;
  readonly generatorURL: string;
}

/** What the notifier reads. */
export interface AlertSources {
  readonly store: ShadowStore;
  readonly clock: Clock;
  readonly log: Logger;
  /** The controlled targets. */
  targets(): string[];
}

const iso = (ms: number) => new Date(ms).toISOString();
const pct = (p: number) => `${Math.round(p * 100)} %`;

/** Sends the controlled targets' alerts to an Alertmanager on an interval. */
export class AlertNotifier {
  /** Alerts sent as firing last round, by identity (their sorted labels). */
  private firing = new Map<string, Alert>();
  private cancel: (() => void) | undefined;
  private running: Promise<void> = Promise.resolve();
  private readonly sent: Counter;
  private readonly failures: Counter;

  constructor(
    private readonly config: AlertingConfig & { alertmanager: string },
    private readonly externalUrl: string,
    private readonly sources: AlertSources,
    registry: Registry,
  ) {
    this.sent = new Counter({ name: 'shadowplane_alerts_sent_total', help: 'Alerts sent to the Alertmanager, by state (firing, resolved).', labelNames: ['state'], registers: [registry] });
    this.failures = new Counter({ name: 'shadowplane_alertmanager_send_failures_total', help: 'Rounds whose alerts the Alertmanager did not accept (retried on the next round).', registers: [registry] });
  }

  /** Evaluates and sends now, then on every interval. */
  start(): void {
    const every = durationMs(this.config.interval);
    const tick = () => {
      this.running = this.round().finally(() => {
        if (this.cancel) this.cancel = this.sources.clock.setTimer(every, tick);
      });
    };
    this.cancel = this.sources.clock.setTimer(0, tick);
  }

  /** Stops the rounds and waits for one in flight. */
  async stop(): Promise<void> {
    const cancel = this.cancel;
    this.cancel = undefined;
    cancel?.();
    await this.running;
  }

  /** One round: evaluate, send the firing alerts and those that just ended. Never rejects. */
  async round(): Promise<void> {
    const now = this.sources.clock.now();
    let current: Map<string, Alert>;
    let ended: Alert[];
    try {
      // An alert that was firing keeps the time it started.
      current = new Map((await this.evaluate()).map((a) => [identity(a), { ...a, startsAt: this.firing.get(identity(a))?.startsAt ?? a.startsAt }]));
      ended = await Promise.all([...this.firing].filter(([id]) => !current.has(id)).map(([, a]) => this.resolved(a, now)));
    } catch (err) {
      this.sources.log.warn({ err: (err as Error).message }, 'alerts not evaluated');
      return;
    }
    const batch = [...current.values(), ...ended];
    if (batch.length === 0) {
      this.firing = current;
      return;
    }
    try {
      const res = await fetch(`${this.config.alertmanager.replace(/\/$/, '')}/api/v2/alerts`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(batch), signal: AbortSignal.timeout(10_000),
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`);
      this.firing = current;
      this.sent.inc({ state: 'firing' }, current.size);
      if (ended.length > 0) this.sent.inc({ state: 'resolved' }, ended.length);
    } catch (err) {
      // `firing` stays as it was, so alerts that ended are sent as resolved on the next round.
      this.failures.inc();
      this.sources.log.warn({ alertmanager: this.config.alertmanager, err: (err as Error).message }, 'alerts not delivered; retrying next round');
    }
  }

  /** The alerts firing now, from what the store holds. */
  private async evaluate(): Promise<Alert[]> {
    const out: Alert[] = [];
    for (const target of this.sources.targets()) {
      const { store } = this.sources;
      for (const e of await store.listAnomalies({ target, ongoing: true, limit: 100 })) {
        if (e.triageState === 'false-positive') continue;
        out.push(this.anomalyAlert(e));
      }
      const [latest] = await store.listDecisions({ target, limit: 1 });
      const s = latest?.scores;
      if (latest && s?.risk !== undefined && s.riskReady && s.risk >= this.config.riskThreshold) out.push(this.riskAlert(latest));
      const [failed] = await store.listDecisions({ target, limit: 1, status: 'failed' });
      if (failed) {
        const [ok] = await store.listDecisions({ target, limit: 1, status: 'succeeded' });
        if (!ok || ok.at < failed.at) out.push(this.failedAlert(failed));
      }
    }
    return out;
  }

  /** `alert` as ended: at its event's end when there is one, else now. */
  private async resolved(alert: Alert, now: number): Promise<Alert> {
    let end = now;
    const event = alert.labels.event;
    if (event) {
      const e = await this.sources.store.getAnomaly(event);
      if (e && e.end !== null) end = Math.max(Date.parse(alert.startsAt), e.end);
    }
    return { ...alert, endsAt: iso(end) };
  }

  private labels(alertname: string, target: string, severity: string, extra: Record<string, string> = {}): Record<string, string> {
    return { ...this.config.labels, alertname, target, severity, source: 'shadowplane', ...extra };
  }

  private dashboard(target: string, from?: number, to?: number): string {
    const range = from !== undefined ? `?from=${iso(from)}${to !== undefined ? `&to=${iso(to)}` : ''}` : '';
    return `${this.externalUrl.replace(/\/$/, '')}/ui/#/targets/${encodeURIComponent(target)}${range}`;
  }

  private anomalyAlert(e: AnomalyRecord): Alert {
    const hour = 3_600_000;
    return {
      labels: this.labels('ShadowplaneAnomaly', e.target, 'warning', { event: e.id }),
      annotations: {
        summary: `${e.target}: ${e.kind} anomaly since ${iso(e.start)}, severity ${e.severity.toFixed(2)}`,
        description: `Driven by ${drivers(e.drivers)}. Triage: ${e.triageState}.`,
        drivers: e.drivers.map((d) => d.signal).join(','),
        dashboard: this.dashboard(e.target, e.start - hour),
      },
      startsAt: iso(e.start),
      generatorURL: this.dashboard(e.target, e.start - hour),
    };
  }

  private riskAlert(d: DecisionRecord): Alert {
    const s = d.scores!;
    const horizon = Math.round((s.riskHorizonMs ?? 0) / 60_000);
    return {
      labels: this.labels('ShadowplaneFailureRisk', d.target, 'critical'),
      annotations: {
        summary: `${d.target}: ${pct(s.risk!)} risk of a failure or SLO breach within ${horizon} min`,
        description: `Driven by ${riskDrivers(s.riskDrivers ?? [])}.${s.riskLimit?.crossAt !== undefined ? ` ${s.riskLimit.signal} is forecast to cross ${s.riskLimit.limit} at ${iso(s.riskLimit.crossAt)}.` : ''}`,
        drivers: (s.riskDrivers ?? []).map((r) => r.signal).join(','),
        risk: String(s.risk),
        dashboard: this.dashboard(d.target),
      },
      startsAt: iso(d.at),
      generatorURL: this.dashboard(d.target),
    };
  }

  private failedAlert(d: DecisionRecord): Alert {
    const a = d.action!;
    return {
      labels: this.labels('ShadowplaneActionFailed', d.target, 'warning'),
      annotations: {
        summary: `${d.target}: scaling ${a.from} -> ${a.to} failed`,
        decision: d.id,
        description: `${d.message}. Task ${d.outcome?.taskId ?? '-'} ended ${d.outcome?.state ?? 'failed'}: ${d.outcome?.reason ?? ''}`,
        drivers: d.reason,
        dashboard: this.dashboard(d.target),
      },
      startsAt: iso(d.outcome?.at ?? d.at),
      generatorURL: this.dashboard(d.target),
    };
  }
}

/** An alert's identity in Alertmanager: its label set. */
function identity(a: Alert): string {
  return JSON.stringify(Object.entries(a.labels).sort(([x], [y]) => x.localeCompare(y)));
}

function drivers(ds: readonly Driver[]): string {
  return ds.length === 0 ? 'no single signal' : ds.map((d) => `${d.signal} (${d.kind}, score ${d.score.toFixed(2)}, ${d.deviation.toFixed(1)} robust sd)`).join(', ');
}

function riskDrivers(ds: readonly RiskDriver[]): string {
  return ds.length === 0 ? 'no single driver' : ds.map((d) => `${d.signal} (${pct(d.probability)}: ${d.detail})`).join(', ');
}
