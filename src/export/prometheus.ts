/**
 * Prometheus out: what Shadowplane predicts and decides, as gauges on the service's `/metrics`
 * (docs/metrics.md lists every name). Per target: observed demand, the forecast mean
 * and upper quantile at the lead time, desired and ready units, anomaly scores, open anomaly
 * events and failure risk; per shadow component: whether its admin API answers and when it last
 * did. Values are read at scrape time from the control loops and the store (one read per scrape
 * shared by every gauge), so a scrape always shows the latest decision. A value the loop has not
 * produced yet (no forecast before enough data) is left out rather than exported as 0.
 */
import { Gauge, type Registry } from 'prom-client';
import type { TargetOutlook } from '../control/outlook.js';
import type { ShadowView } from '../control/shadows/registry.js';

/** Where the gauges read from at scrape time. */
export interface OutlookSource {
  /** The outlook of every target (each has a loop). */
  outlooks(): Promise<TargetOutlook[]>;
  /** Every shadow component as last read. */
  shadows(): ShadowView[];
}

type Labels = Record<string, string>;
interface Series {
  readonly labels: Labels;
  readonly value: number | null;
}

/**
 * The per-target gauges: name, help, and the series of one outlook. Names are a contract (KEDA
 * triggers and alert rules query them): change them only with a note in docs/metrics.md.
 */
const TARGET_GAUGES: readonly { name: string; help: string; labels: string[]; series: (o: TargetOutlook) => Series[] }[] = [
  { name: 'shadowplane_target_demand', help: 'Observed demand of the last complete control step, in the unit of the demand signal (requests: estimated requests per second).', labels: ['target', 'signal'], series: (o) => [{ labels: { signal: o.signal }, value: o.demand }] },
  { name: 'shadowplane_target_forecast_demand', help: 'Point forecast of the demand at the lead time (the provisioning delay ahead).', labels: ['target', 'signal'], series: (o) => [{ labels: { signal: o.signal }, value: o.forecastMean }] },
  { name: 'shadowplane_target_forecast_demand_upper', help: 'Forecast of the demand at the lead time at the planned quantile (control.quantile), the value capacity is planned for.', labels: ['target', 'signal', 'quantile'], series: (o) => [{ labels: { signal: o.signal, quantile: String(o.quantile) }, value: o.forecastUpper }] },
  { name: 'shadowplane_target_lead_time_seconds', help: 'How far ahead the forecast gauges look: the provisioning delay rounded up to whole control steps.', labels: ['target'], series: (o) => [{ labels: {}, value: o.leadTimeSeconds }] },
  { name: 'shadowplane_target_desired_units', help: 'Units (replicas, nodes) the control loop wants now, a pin applied.', labels: ['target'], series: (o) => [{ labels: {}, value: o.desiredUnits }] },
  { name: 'shadowplane_target_ready_units', help: 'Units serving now, as the actuator\'s world reports them or the loop estimates them.', labels: ['target'], series: (o) => [{ labels: {}, value: o.readyUnits }] },
  { name: 'shadowplane_target_booting_units', help: 'Units asked for and not serving yet.', labels: ['target'], series: (o) => [{ labels: {}, value: o.bootingUnits }] },
  { name: 'shadowplane_target_anomaly_score', help: 'Anomaly score in [0, 1]: scope="demand" for the demand signal alone, scope="component" over the demand and the target\'s metrics.', labels: ['target', 'scope'], series: (o) => [{ labels: { scope: 'demand' }, value: o.anomalyScore }, { labels: { scope: 'component' }, value: o.componentScore }] },
  { name: 'shadowplane_target_open_anomaly_events', help: 'Anomaly events of the target in triage state open.', labels: ['target'], series: (o) => [{ labels: {}, value: o.openAnomalies }] },
  { name: 'shadowplane_target_failure_risk', help: 'Probability of a failure or SLO breach within the risk horizon, in [0, 1].', labels: ['target'], series: (o) => [{ labels: {}, value: o.risk }] },
  { name: 'shadowplane_target_failure_risk_horizon_seconds', help: 'Horizon of shadowplane_target_failure_risk.', labels: ['target'], series: (o) => [{ labels: {}, value: o.riskHorizonSeconds }] },
  { name: 'shadowplane_target_last_decision_timestamp_seconds', help: 'When the control loop last decided (Unix time); the other target gauges describe that decision.', labels: ['target'], series: (o) => [{ labels: {}, value: o.at === null ? null : o.at / 1000 }] },
];

/** Adds the target and shadow-component gauges to `registry`. */
export function registerOutlookMetrics(registry: Registry, source: OutlookSource): void {
  // prom-client collects every gauge of a scrape concurrently: they share one read.
  let pending: Promise<TargetOutlook[]> | undefined;
  const outlooks = () => {
    pending ??= source.outlooks().finally(() => {
      pending = undefined;
    });
    return pending;
  };
  for (const g of TARGET_GAUGES) {
    new Gauge({
      name: g.name, help: g.help, labelNames: g.labels, registers: [registry],
      async collect() {
        this.reset();
        for (const o of await outlooks()) {
          for (const s of g.series(o)) if (s.value !== null && Number.isFinite(s.value)) this.set({ target: o.target, ...s.labels }, s.value);
        }
      },
    });
  }
  new Gauge({
    name: 'shadowplane_shadow_up', help: 'Whether the shadow component\'s admin API answered its last status read (1) or not (0); absent before the first read.', labelNames: ['shadow', 'kind', 'target'], registers: [registry],
    collect() {
      this.reset();
      for (const v of source.shadows()) if (v.reachable !== null) this.set(shadowLabels(v), v.reachable ? 1 : 0);
    },
  });
  new Gauge({
    name: 'shadowplane_shadow_last_seen_timestamp_seconds', help: 'When a status read of the shadow component last succeeded (Unix time).', labelNames: ['shadow', 'kind', 'target'], registers: [registry],
    collect() {
      this.reset();
      for (const v of source.shadows()) if (v.seenAt !== null) this.set(shadowLabels(v), v.seenAt / 1000);
    },
  });
}

function shadowLabels(v: ShadowView): Labels {
  return { shadow: v.name, kind: v.kind, target: v.target ?? '' };
}
