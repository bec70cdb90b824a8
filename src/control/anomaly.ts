/**
 * Anomaly detection, failure risk and anomaly events of one controlled target, fed by its control
 * loop step by step: the demand series and the target's metric series form one component
 * (src/detect ComponentDetector), whose score and the demand's utilisation of the serving capacity
 * feed a RiskScorer, and whose scores feed an EventTracker. Events are buffered by the tracker's
 * sink and written to the Shadow Store by `persist` inside the tick, so a store failure fails the
 * tick (and is retried on the next one) instead of being lost in the background.
 */
import { randomUUID } from 'node:crypto';
import { ShadowplaneError } from '../core/errors.js';
import { ComponentDetector } from '../detect/component.js';
import { EventTracker, withTriage, type AnomalyEventSink } from '../detect/events.js';
import { RiskScorer } from '../detect/risk.js';
import type { AnomalyEvent, AnomalyRecord, ComponentScore, RiskScore, TriageState } from '../model/detect.js';
import type { ShadowStore } from '../store/store.js';

/** Name of the risk signal: demand over the capacity of the ready units (1 = saturated). */
export const UTILISATION = 'utilisation';
/** At most this many metric series of a target join its component, besides the demand. */
export const MAX_COMPONENT_METRICS = 16;

/** The latest anomaly and risk view of a target, as the API returns it. */
export interface TargetRisk {
  readonly target: string;
  /** End (ms) of the step the view was computed for. */
  readonly t: number;
  readonly ready: boolean;
  /** Probability of a failure or SLO breach within `horizonMs`, in [0, 1]. */
  readonly probability: number;
  readonly horizonMs: number;
  readonly drivers: RiskScore['drivers'];
  /** The component anomaly score of the same step and the metrics driving it. */
  readonly anomaly: { readonly score: number; readonly ready: boolean; readonly kind: string; readonly drivers: ComponentScore['drivers'] };
  /** The signals of the component, demand first. */
  readonly signals: readonly string[];
}

/** Collects the tracker's events until the loop writes them (AnomalyEventSink). */
class BufferSink implements AnomalyEventSink {
  readonly events: AnomalyEvent[] = [];
  upsert(event: AnomalyEvent): void {
    this.events.push(event);
  }
}

/**
 * One target's detectors. `signals` are the demand signal then metric keys; the constructor
 * throws RangeError on an empty or duplicated signal list (ComponentDetector's rule).
 */
export class TargetAnomalies {
  private readonly detector: ComponentDetector;
  private readonly risk: RiskScorer;
  private readonly tracker: EventTracker;
  private readonly sink = new BufferSink();
  private readonly riskValues: Float64Array;
  private view: TargetRisk | undefined;

  constructor(
    readonly target: string,
    readonly signals: readonly string[],
  ) {
    this.detector = new ComponentDetector(target, signals);
    this.risk = new RiskScorer(target, [...signals, UTILISATION], { limits: [{ signal: UTILISATION, limit: 1, direction: 'above' }] });
    this.tracker = new EventTracker(this.sink);
    this.riskValues = new Float64Array(signals.length + 1);
  }

  /** The metric keys of the component (signals after the demand). */
  get metrics(): readonly string[] {
    return this.signals.slice(1);
  }

  /** Scores one step ending at `t`: values in `signals` order (NaN: missing), utilisation NaN when unknown. */
  observe(t: number, values: readonly number[], utilisation: number): TargetRisk {
    const score = this.detector.update(t, values);
    this.riskValues.set(values);
    this.riskValues[values.length] = utilisation;
    const risk = this.risk.update(t, this.riskValues, score.ready ? score.value : 0);
    this.tracker.observe(this.target, t, score);
    this.view = {
      target: this.target, t, ready: risk.ready && score.ready, probability: risk.probability, horizonMs: risk.horizonMs, drivers: risk.drivers,
      anomaly: { score: score.value, ready: score.ready, kind: score.reason.kind, drivers: score.drivers }, signals: this.signals,
    };
    return this.view;
  }

  /** The view of the last step, or undefined before the first. */
  latest(): TargetRisk | undefined {
    return this.view;
  }

  /** Writes the events opened, changed or closed since the last call; a failed write stays queued and rejects. */
  async persist(store: ShadowStore, at: number): Promise<void> {
    const queue = this.sink.events;
    while (queue.length > 0) {
      await store.putAnomaly(this.target, queue[0], at);
      queue.shift();
    }
  }
}

/** Who asks for a triage change, and why. */
export interface TriageRequest {
  readonly actor: string;
  readonly why: string;
}

/**
 * Moves a stored anomaly event to `state` (rules of src/detect/events.ts withTriage), records who
 * and why on the event and in the target's audit trail, and returns the stored event. Asking for
 * the state it has already is a no-op. Throws SHADOWPLANE_ERR_NOT_FOUND for an unknown id and
 * SHADOWPLANE_ERR_TRIAGE_STATE for a transition the rules refuse or a concurrent change.
 */
export async function triageAnomaly(store: ShadowStore, now: number, id: string, state: TriageState, who: TriageRequest): Promise<AnomalyRecord> {
  const event = await store.getAnomaly(id);
  if (!event) throw new ShadowplaneError('SHADOWPLANE_ERR_NOT_FOUND', `no anomaly event ${id}`);
  if (event.triageState === state) return event;
  withTriage(event, state);
  if (!(await store.setAnomalyTriage(id, event.triageState, state, { actor: who.actor, why: who.why, at: now }))) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_TRIAGE_STATE', `anomaly event ${id} changed while it was being triaged; read it again`);
  }
  await store.appendAudit({ id: randomUUID(), target: event.target, at: now, actor: who.actor, why: who.why, action: 'triage-anomaly', detail: { anomaly: id, from: event.triageState, to: state } });
  return (await store.getAnomaly(id))!;
}
