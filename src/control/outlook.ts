/**
 * The outlook of a controlled target: what its control loop last saw and decided, in one flat
 * record — observed demand, the forecast at the lead time, the units it wants and has, the anomaly
 * and failure-risk scores, the anomaly events still open. The exports (Prometheus `/metrics`, the
 * KEDA scaler) read this, so they all say the same thing as the decision records.
 */
import { durationMs } from '../core/schema.js';
import type { DecisionRecord } from '../model/decision.js';
import type { ShadowStore } from '../store/store.js';
import type { TargetLoop } from './loop.js';
import { levelOf } from './settings.js';

/** One controlled target's latest view. Values the loop has not produced yet are null. */
export interface TargetOutlook {
  readonly target: string;
  /** When the latest decision was made (ms); null before the first tick. */
  readonly at: number | null;
  /** The demand signal: `requests` (estimated requests per second) or a metric key. */
  readonly signal: string;
  /** Demand of the last complete step, in the signal's unit. */
  readonly demand: number | null;
  /** Forecast steps ahead the outlook looks: the provisioning delay in steps (at least 1). */
  readonly leadTimeSteps: number;
  readonly leadTimeSeconds: number;
  /** Point forecast of the demand at the lead time. */
  readonly forecastMean: number | null;
  /** The planned demand quantile (settings `quantile`) and its forecast at the lead time. */
  readonly quantile: number;
  readonly forecastUpper: number | null;
  /** Units the loop wants: the policy's recommendation, bounded by a pin when one is in force. */
  readonly desiredUnits: number | null;
  /** Units serving and booting; null for an observed-only target (its units are unknown). */
  readonly readyUnits: number | null;
  readonly bootingUnits: number | null;
  /** Anomaly score of the demand in [0, 1]. */
  readonly anomalyScore: number | null;
  /** Component anomaly score over the demand and the target's metrics in [0, 1]. */
  readonly componentScore: number | null;
  /** Probability of a failure or SLO breach within `riskHorizonSeconds`. */
  readonly risk: number | null;
  readonly riskHorizonSeconds: number;
  /** Anomaly events in triage state `open`. */
  readonly openAnomalies: number;
}

/** The units a decision asks for: the pinned value when a pin changed it, else the recommendation. */
export function desiredUnitsOf(record: DecisionRecord): number | null {
  const pin = record.steps.findLast((s) => s.step === 'override-pin');
  return pin?.to ?? record.recommendation?.desiredUnits ?? null;
}

/** The outlook of the target `loop` analyses (see outlookFrom). */
export async function outlookOf(loop: TargetLoop, store: ShadowStore): Promise<TargetOutlook> {
  const open = await store.openAnomalyCounts(loop.target);
  return outlookFrom(loop, open[loop.target] ?? 0);
}

/**
 * The outlooks of every target of `loops`, in one read of the store however many there are: a
 * fleet's scrape of `/metrics` must not queue a read per target ahead of everything else.
 */
export async function fleetOutlooks(loops: readonly TargetLoop[], store: ShadowStore): Promise<TargetOutlook[]> {
  const open = await store.openAnomalyCounts();
  return loops.map((loop) => outlookFrom(loop, open[loop.target] ?? 0));
}

/** The outlook of the target `loop` analyses, from its latest own decision (see TargetLoop.latestOwnRecord). */
function outlookFrom(loop: TargetLoop, openAnomalies: number): TargetOutlook {
  const s = loop.current;
  const record = loop.latestOwnRecord();
  const risk = loop.latestRisk();
  const cap = loop.capacity();
  const stepSeconds = record?.inputs.stepSeconds ?? durationSeconds(s.interval);
  const lead = Math.max(1, record?.inputs.provisioningDelaySteps ?? Math.ceil(durationSeconds(s.provisioningDelay) / stepSeconds));
  const level = levelOf(s.quantile);
  const at = <T>(xs: readonly T[] | undefined) => xs?.[Math.min(lead, xs.length) - 1] ?? null;
  const forecast = record?.forecast ?? null;
  return {
    target: loop.target,
    at: record?.at ?? null,
    signal: record?.inputs.signal ?? s.metric ?? 'requests',
    demand: record && record.inputs.windows > 0 ? record.inputs.demand : null,
    leadTimeSteps: lead,
    leadTimeSeconds: lead * stepSeconds,
    forecastMean: at(forecast?.mean),
    quantile: s.quantile,
    forecastUpper: at(forecast?.intervals.find((i) => i.level === level)?.hi),
    desiredUnits: record ? desiredUnitsOf(record) : null,
    readyUnits: loop.actuatorKind ? cap.ready : null,
    bootingUnits: loop.actuatorKind ? cap.booting : null,
    anomalyScore: record?.scores?.anomaly ?? null,
    componentScore: risk?.anomaly.score ?? null,
    risk: risk ? risk.probability : null,
    riskHorizonSeconds: risk ? risk.horizonMs / 1000 : durationSeconds(s.risk.horizon),
    openAnomalies,
  };
}

function durationSeconds(d: string): number {
  return durationMs(d) / 1000;
}
