/**
 * What a target's loop learns from outcomes, kept in its control state (ControlState.learned, so
 * in the Shadow Store of either backend) so that it survives restarts:
 * - the scaling policy's memory, headroom first (trigger refinement from forecast misses);
 * - the provisioning delay, measured on the scale-ups the executor verified, used as the
 *   pre-allocation lead time (settings `leadTime: learned`);
 * - per driver signal, the alarm level "false-positive" triage verdicts raised.
 * Every change worth reading is appended to a bounded history. The forecaster's interval
 * calibration and the detectors' baselines are not kept here: the loop rebuilds them from the
 * stored windows when it opens, which gives the same state.
 */
import type { LearnedChange, LearnedState } from '../model/decision.js';

/** Scale-up durations kept (the most recent). */
export const MAX_SCALE_UPS = 20;
/** Measured scale-ups before the learned delay is used. */
export const MIN_SCALE_UPS = 3;
/** History entries kept (the most recent). */
export const MAX_HISTORY = 200;
/** A headroom move smaller than this since its last history entry is not recorded. */
const HEADROOM_NOTE = 0.01;

/** An empty learned state. */
export function emptyLearned(): LearnedState {
  return { scaleUpMs: [], alarmLevels: {}, history: [] };
}

/** Appends a change to the history (bounded). */
export function noteChange(l: LearnedState, change: LearnedChange): void {
  l.history.push(change);
  if (l.history.length > MAX_HISTORY) l.history.splice(0, l.history.length - MAX_HISTORY);
}

/** The learned provisioning delay (ms): the 90th percentile (nearest rank) of the measured scale-ups; undefined before MIN_SCALE_UPS. */
export function learnedDelayMs(l: LearnedState): number | undefined {
  if (l.scaleUpMs.length < MIN_SCALE_UPS) return undefined;
  const sorted = [...l.scaleUpMs].sort((a, b) => a - b);
  return sorted[Math.ceil(0.9 * sorted.length) - 1];
}

/** Records a successful scale-up that took `ms`, noting the learned delay when it moves. */
export function recordScaleUp(l: LearnedState, ms: number, at: number): void {
  const before = learnedDelayMs(l) ?? null;
  l.scaleUpMs.push(ms);
  if (l.scaleUpMs.length > MAX_SCALE_UPS) l.scaleUpMs.shift();
  const after = learnedDelayMs(l) ?? null;
  if (after !== before) noteChange(l, { at, key: 'leadTime', from: before, to: after, why: `scale-up measured at ${Math.round(ms)} ms (p90 of the last ${l.scaleUpMs.length})` });
}

/** Notes the headroom after a tick when it moved by at least HEADROOM_NOTE since its last entry. */
export function noteHeadroom(l: LearnedState, headroom: number, at: number, why: string): void {
  const last = l.history.findLast((c) => c.key === 'headroom');
  const from = last?.to ?? null;
  if (from !== null && Math.abs(headroom - from) < HEADROOM_NOTE) return;
  noteChange(l, { at, key: 'headroom', from, to: headroom, why });
}

/** The bounds of learned alarm levels (a target's `anomaly` settings). */
export interface AlarmLevelBounds {
  readonly alarmThreshold: number;
  readonly maxAlarmLevel: number;
  readonly falsePositiveStep: number;
}

/**
 * A "false-positive" verdict on an event of `severity` driven by `signal`: that signal's alarm
 * level rises to `falsePositiveStep` above the severity (never lower than it was, never above
 * `maxAlarmLevel`). Returns the change, or null when the level is already there.
 */
export function raiseAlarmLevel(
  l: LearnedState, signal: string, severity: number, b: AlarmLevelBounds, at: number, actor: string, why: string,
): LearnedChange | null {
  const from = l.alarmLevels[signal] ?? null;
  const to = Math.min(b.maxAlarmLevel, Math.max(from ?? b.alarmThreshold, severity + b.falsePositiveStep));
  if (to === (from ?? b.alarmThreshold)) return null;
  l.alarmLevels[signal] = to;
  const change = { at, key: `alarmLevel.${signal}`, from, to, why, actor };
  noteChange(l, change);
  return change;
}

/** Forgets the learned alarm level of `signal` (back to the threshold). Returns the change, or null when it had none. */
export function resetAlarmLevel(l: LearnedState, signal: string, at: number, actor: string, why: string): LearnedChange | null {
  const from = l.alarmLevels[signal];
  if (from === undefined) return null;
  delete l.alarmLevels[signal];
  const change = { at, key: `alarmLevel.${signal}`, from, to: null, why, actor };
  noteChange(l, change);
  return change;
}
