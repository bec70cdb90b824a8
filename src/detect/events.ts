/**
 * Turns score streams into anomaly events: one open event per component at a time (signals of
 * the same component are merged into it, so they are deduplicated), opened when the component
 * score reaches `openThreshold` and closed after it stayed below `closeThreshold` for
 * `quietMs`. Pure: persistence goes through the `AnomalyEventSink` port, which the Shadow Store
 * implements; the tracker never does I/O itself.
 */
import type { AnomalyEvent, ComponentScore, Driver, TriageState } from '../model/detect.js';
import { ShadowplaneError } from '../core/errors.js';

/** Where events go when they open, change and close (the Shadow Store implements this). */
export interface AnomalyEventSink {
  /** Called with the latest version of an event; same `id` means the same event (upsert). */
  upsert(event: AnomalyEvent): void;
}

/** Knobs of the event tracker (documented in docs/detection.md). */
export interface EventTrackerConfig {
  /** A component score at or above this opens an event. */
  readonly openThreshold: number;
  /** The event ends once the score stayed below this for `quietMs` (hysteresis: <= openThreshold). */
  readonly closeThreshold: number;
  readonly quietMs: number;
  /** At most this many drivers are kept per event. */
  readonly maxDrivers: number;
}

/** Defaults: open at 0.5, close after 10 min below 0.3. */
export const DEFAULT_EVENTS: EventTrackerConfig = { openThreshold: 0.5, closeThreshold: 0.3, quietMs: 600_000, maxDrivers: 10 };

const TRANSITIONS: Record<TriageState, readonly TriageState[]> = {
  open: ['acknowledged', 'resolved', 'false-positive'],
  acknowledged: ['resolved', 'false-positive'],
  resolved: ['false-positive'],
  'false-positive': [],
};

/**
 * Returns the event with a new triage state. Throws ShadowplaneError SHADOWPLANE_ERR_TRIAGE_STATE
 * when the transition is not allowed (open -> acknowledged | resolved | false-positive,
 * acknowledged -> resolved | false-positive, resolved -> false-positive).
 */
export function withTriage(event: AnomalyEvent, state: TriageState): AnomalyEvent {
  if (event.triageState === state) return event;
  if (!TRANSITIONS[event.triageState].includes(state)) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_TRIAGE_STATE', `event ${event.id} cannot go from ${event.triageState} to ${state}`, [
      { path: '/triageState', message: `from ${event.triageState} only ${TRANSITIONS[event.triageState].join(', ') || 'nothing'} is allowed` },
    ]);
  }
  return { ...event, triageState: state };
}

interface OpenState {
  event: AnomalyEvent;
  lastAnomalous: number;
  drivers: Map<string, Driver>;
}

/** An open event as it ends: at its last anomalous point, resolved unless called a false positive. */
function closed(state: OpenState): AnomalyEvent {
  return {
    ...state.event,
    end: state.lastAnomalous,
    lastAnomalous: state.lastAnomalous,
    triageState: state.event.triageState === 'false-positive' ? 'false-positive' : 'resolved',
  };
}

/** Tracks events per component; memory O(open components x drivers). */
export class EventTracker {
  private readonly c: EventTrackerConfig;
  private readonly open = new Map<string, OpenState>();

  /** Throws RangeError when the thresholds are not 0 < close <= open <= 1 or quietMs < 0. */
  constructor(
    private readonly sink: AnomalyEventSink | null = null,
    config: Partial<EventTrackerConfig> = {},
  ) {
    this.c = { ...DEFAULT_EVENTS, ...config };
    const c = this.c;
    if (!(c.closeThreshold > 0 && c.closeThreshold <= c.openThreshold && c.openThreshold <= 1)) {
      throw new RangeError('event config: need 0 < closeThreshold <= openThreshold <= 1');
    }
    if (!(c.quietMs >= 0)) throw new RangeError('event config: quietMs must be >= 0');
  }

  /**
   * Feeds one component score at time t. Returns the event it opened, changed (including its
   * `lastAnomalous` moving on) or closed, or null when nothing changed. Not-ready scores are ignored.
   */
  observe(component: string, t: number, score: ComponentScore): AnomalyEvent | null {
    if (!score.ready) return null;
    const state = this.open.get(component);
    const anomalous = score.value >= this.c.openThreshold;
    if (!state) {
      if (!anomalous) return null;
      const drivers = new Map<string, Driver>();
      this.merge(drivers, score.drivers);
      const event: AnomalyEvent = {
        id: `${component}@${t}`,
        component,
        start: t,
        end: null,
        lastAnomalous: t,
        severity: score.value,
        drivers: this.ranked(drivers),
        triageState: 'open',
      };
      this.open.set(component, { event, lastAnomalous: t, drivers });
      return this.emit(event);
    }
    if (score.value >= this.c.closeThreshold) {
      state.lastAnomalous = t;
      const before = state.event;
      this.merge(state.drivers, score.drivers);
      // Emitted at every anomalous point: the stored lastAnomalous is what a restarted tracker resumes from.
      state.event = { ...before, lastAnomalous: t, severity: Math.max(before.severity, score.value), drivers: this.ranked(state.drivers) };
      return this.emit(state.event);
    }
    if (t - state.lastAnomalous >= this.c.quietMs) return this.close(component, state);
    return null;
  }

  /**
   * Takes back an event that was still open when an earlier tracker stopped (a service restart,
   * new settings), so an anomaly still going on continues that event (same id) instead of opening
   * a second one; its triage state, severity and drivers carry on. `seenUntil` is the last time
   * the earlier tracker observed the component, `now` the time this one takes over. The rule:
   *
   * - unobserved for longer than `quietMs` (now - seenUntil > quietMs, e.g. the service was down
   *   that long): it is not known whether the anomaly lasted, so the event is closed at its last
   *   anomalous point (`end` = `lastAnomalous`, else `start`) and returned, and an anomaly still
   *   there opens a new event;
   * - otherwise it is open again as if the tracker had never stopped (null is returned): a score
   *   >= closeThreshold continues it, and it closes once `quietMs` passed since its last anomalous
   *   point.
   *
   * A component has one open event: restoring a second one keeps the one that started later and
   * closes the other (returned). Events that have already ended are ignored.
   */
  restore(event: AnomalyEvent, seenUntil: number, now: number): AnomalyEvent | null {
    if (event.end !== null) return null;
    const lastAnomalous = event.lastAnomalous ?? event.start;
    const state: OpenState = { event: { ...event, lastAnomalous }, lastAnomalous, drivers: new Map(event.drivers.map((d) => [d.signal, d])) };
    if (now - seenUntil > this.c.quietMs) return this.emit(closed(state));
    const other = this.open.get(event.component);
    if (other && other.event.start > event.start) return this.emit(closed(state));
    this.open.set(event.component, state);
    return other ? this.emit(closed(other)) : null;
  }

  /** Changes the triage state of a component's open event; throws as `withTriage`, or SHADOWPLANE_ERR_NOT_FOUND. */
  triage(component: string, state: TriageState): AnomalyEvent {
    const s = this.open.get(component);
    if (!s) throw new ShadowplaneError('SHADOWPLANE_ERR_NOT_FOUND', `no open anomaly event for component ${component}`);
    s.event = withTriage(s.event, state);
    return this.emit(s.event);
  }

  /** The currently open events. */
  openEvents(): AnomalyEvent[] {
    return [...this.open.values()].map((s) => s.event);
  }

  private close(component: string, state: OpenState): AnomalyEvent {
    this.open.delete(component);
    return this.emit(closed(state));
  }

  private merge(into: Map<string, Driver>, drivers: readonly Driver[]): void {
    for (const d of drivers) {
      const old = into.get(d.signal);
      if (!old || d.score > old.score) into.set(d.signal, d);
    }
  }

  private ranked(drivers: Map<string, Driver>): Driver[] {
    return [...drivers.values()].sort((a, b) => b.score - a.score).slice(0, this.c.maxDrivers);
  }

  private emit(event: AnomalyEvent): AnomalyEvent {
    this.sink?.upsert(event);
    return event;
  }
}
