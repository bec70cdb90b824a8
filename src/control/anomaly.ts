/**
 * Anomaly detection, failure risk and anomaly events of one controlled target, fed by its control
 * loop step by step: the demand series and the target's metric series form one component
 * (src/detect ComponentDetector), whose score, the demand's utilisation of the serving capacity
 * and the signals of the target's risk limits (settings `risk.limits`) feed a RiskScorer, and
 * whose scores feed an EventTracker. Events are buffered by the tracker's sink and written to the
 * Shadow Store by `persist` inside the tick, so a store failure fails the tick (and is retried on
 * the next one) instead of being lost in the background. Events still open when the detectors
 * are replaced (a restart, new settings) are handed over to the new ones (`AnomalyHandover`).
 */
import { randomUUID } from 'node:crypto';
import { ShadowplaneError } from '../core/errors.js';
import { ComponentDetector } from '../detect/component.js';
import { EventTracker, withTriage, type AnomalyEventSink } from '../detect/events.js';
import { RiskScorer, type SignalLimit } from '../detect/risk.js';
import type { AnomalyEvent, AnomalyRecord, ComponentScore, RiskDriver, RiskScore, TriageState } from '../model/detect.js';
import { windowStat } from '../store/query.js';
import type { ShadowStore } from '../store/store.js';
import type { Window } from '../store/window.js';
import { durationMs } from '../core/schema.js';
import { limitSignal, type ControlSettings, type RiskLimitSetting } from './settings.js';

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
  /** The limit that drives the risk, with its forecast crossing time; null when no limit is approached. */
  readonly limit: RiskDriver | null;
  /** The component anomaly score of the same step and the metrics driving it. */
  readonly anomaly: { readonly score: number; readonly ready: boolean; readonly kind: string; readonly drivers: ComponentScore['drivers'] };
  /** The signals of the component, demand first. */
  readonly signals: readonly string[];
}

/**
 * What new detectors of a target take over from the ones before them (a restart: read from the
 * store by `storedHandover`; new settings: `TargetAnomalies.handover`).
 */
export interface AnomalyHandover {
  /** Events that were still open (no end): continued, or closed by the rule of EventTracker.restore. */
  readonly events: readonly AnomalyEvent[];
  /** The last time the previous detectors observed the target (ms). */
  readonly seenUntil: number;
  /**
   * Steps ending at or before this time (ms) only warm the new detectors: the previous ones saw
   * them, or they are history read at start. Events are tracked for later steps only.
   */
  readonly from: number;
  /** Events changed but not yet written to the store. */
  readonly pending: readonly AnomalyEvent[];
}

/**
 * The handover of a target's detectors after a restart at `now`: its events still open in the
 * store (whatever their triage state), and as the time it was last observed its latest decision
 * (one per tick; else the latest point of those events).
 */
export async function storedHandover(store: ShadowStore, target: string, now: number): Promise<AnomalyHandover> {
  const events = await store.listAnomalies({ target, ongoing: true, limit: 100 });
  const [last] = await store.listDecisions({ target, limit: 1 });
  const seenUntil = last?.at ?? Math.max(-Infinity, ...events.map((e) => e.lastAnomalous ?? e.start));
  return { events, seenUntil, from: now, pending: [] };
}

/** A limit's value in one step: the mean of its metric, or its statistic of the request window; NaN without data. */
export function limitValue(l: RiskLimitSetting, metric: Window | undefined, requests: Window | undefined): number {
  if (l.metric !== undefined) return metric && metric.count > 0 ? metric.sum / metric.count : Number.NaN;
  return requests && requests.count > 0 ? windowStat(requests, l.requests!) : Number.NaN;
}

/** Collects the tracker's events until the loop writes them (AnomalyEventSink). */
class BufferSink implements AnomalyEventSink {
  readonly events: AnomalyEvent[] = [];
  upsert(event: AnomalyEvent): void {
    this.events.push(event);
  }
}

/** How a target's detectors alarm: its `anomaly` settings and the alarm levels triage taught it. */
export interface TargetAlarm {
  /** Score at which the detectors alarm and an event opens. */
  readonly threshold: number;
  /** Steps the score must stay low before the alarm stage re-arms. */
  readonly rearmSteps: number;
  /** An event ends after its score stayed below the close threshold this long (ms). */
  readonly quietMs: number;
  /** The learned alarm level of a driver signal, if any: a new event it drives opens only at or above it. */
  readonly levelOf: (signal: string) => number | undefined;
}

/**
 * One target's detectors. `signals` are the demand signal then metric keys; the constructor
 * throws RangeError on an empty or duplicated signal list (ComponentDetector's rule). `risk` are
 * the target's risk settings (validated), `handover` what the previous detectors left, `alarm`
 * how they alarm.
 */
export class TargetAnomalies {
  private readonly detector: ComponentDetector;
  private readonly risk: RiskScorer;
  private readonly tracker: EventTracker;
  private readonly sink = new BufferSink();
  private readonly riskValues: Float64Array;
  /** The limits whose signals `observe` takes, one per signal (a signal limited on both sides is read once). */
  readonly limitInputs: readonly RiskLimitSetting[];
  private trackedFrom: number;
  private lastT: number;
  private view: TargetRisk | undefined;

  constructor(
    readonly target: string,
    readonly signals: readonly string[],
    risk: ControlSettings['risk'],
    handover: AnomalyHandover,
    private readonly alarm: TargetAlarm,
  ) {
    this.detector = new ComponentDetector(target, signals, { univariate: { alarm: { alarmScore: alarm.threshold, rearmSteps: alarm.rearmSteps } } });
    const inputs = new Map<string, RiskLimitSetting>();
    for (const l of risk.limits) if (!inputs.has(limitSignal(l))) inputs.set(limitSignal(l), l);
    this.limitInputs = [...inputs.values()];
    const limits: SignalLimit[] = [
      { signal: UTILISATION, limit: 1, direction: 'above' },
      ...risk.limits.map((l): SignalLimit => ({ signal: limitSignal(l), limit: (l.max ?? l.min)!, direction: l.max !== undefined ? 'above' : 'below' })),
    ];
    this.risk = new RiskScorer(target, [UTILISATION, ...inputs.keys()], { limits, horizonMs: durationMs(risk.horizon) });
    this.riskValues = new Float64Array(1 + inputs.size);
    this.tracker = new EventTracker(this.sink, { openThreshold: alarm.threshold, quietMs: alarm.quietMs });
    this.sink.events.push(...handover.pending);
    for (const e of handover.events) this.tracker.restore(e, handover.seenUntil, handover.from);
    this.trackedFrom = handover.from;
    this.lastT = handover.from;
  }

  /** The metric keys of the component (signals after the demand). */
  get metrics(): readonly string[] {
    return this.signals.slice(1);
  }

  /**
   * Scores one step ending at `t`: values in `signals` order (NaN: missing), utilisation NaN when
   * unknown, and the values of `limitInputs` in their order.
   */
  observe(t: number, values: readonly number[], utilisation: number, limitValues: readonly number[]): TargetRisk {
    // Events and risk follow the whole episode (the tracker opens one event per episode itself),
    // so they take the score before the alarm stage's one-alarm-per-episode rule.
    const scored = this.detector.update(t, values);
    const score = scored.value === this.detector.ungatedScore ? scored : { ...scored, value: this.detector.ungatedScore };
    this.riskValues[0] = utilisation;
    this.riskValues.set(limitValues, 1);
    const risk = this.risk.update(t, this.riskValues, score.ready ? score.value : 0);
    if (t > this.trackedFrom && !this.heldBack(score)) this.tracker.observe(this.target, t, score);
    this.lastT = Math.max(this.lastT, t);
    this.view = {
      target: this.target, t, ready: risk.ready && score.ready,
      probability: risk.probability, horizonMs: risk.horizonMs, drivers: risk.drivers, limit: risk.limit,
      anomaly: { score: score.value, ready: score.ready, kind: score.reason.kind, drivers: score.drivers }, signals: this.signals,
    };
    return this.view;
  }

  /**
   * True when `score` would open an event but stays below the alarm level triage taught its top
   * driver (an open event carries on as usual).
   */
  private heldBack(score: ComponentScore): boolean {
    if (!score.ready || score.value < this.alarm.threshold || this.tracker.openEvents().length > 0) return false;
    const level = this.alarm.levelOf(score.drivers[0]?.signal ?? this.signals[0]);
    return level !== undefined && score.value < level;
  }

  /** What detectors replacing these take over: the open events and the events not yet written. */
  handover(): AnomalyHandover {
    return { events: this.tracker.openEvents(), seenUntil: this.lastT, from: this.lastT, pending: [...this.sink.events] };
  }

  /** The events still open. */
  openEvents(): readonly AnomalyEvent[] {
    return this.tracker.openEvents();
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
