/**
 * The Shadow Store port: durable rollup windows, the managed targets and their settings. Two
 * backends implement it (SQLite embedded, PostgreSQL for more than one machine) and run the same
 * test suite. Every method rejects with SHADOWPLANE_ERR_STORE_UNAVAILABLE when the backend cannot
 * be reached; nothing here retries. A write the backend refuses as invalid (a constraint, a value
 * it cannot hold) rejects with SHADOWPLANE_ERR_STORE_REJECTED instead (see quarantine.ts).
 */
import type { AuditEntry, Condition, ControlState, DecisionRecord, DecisionStatus } from '../model/decision.js';
import type { AnomalyEvent, AnomalyRecord, TriageChange, TriageState } from '../model/detect.js';
import type { CapacityRun } from '../model/capacity.js';
import type { Owner } from './owner.js';
import type { QuarantinedWindow } from './quarantine.js';
import type { WindowWrite } from './row-pack.js';
import type { Dimension, WindowRow } from './window.js';

/** The kinds of data system a target can be. */
export const TARGET_KINDS = ['database', 'service', 'stream', 'volume'] as const;
/** One target kind. */
export type TargetKind = (typeof TARGET_KINDS)[number];

/** How a target's Prometheus endpoint is scraped. */
export interface ScrapeSettings {
  url: string;
  /** A duration such as `15s`. */
  interval: string;
}

/** A managed system as stored. */
export interface TargetRecord {
  name: string;
  kind: TargetKind;
  labels: Record<string, string>;
  /** Share of requests kept, in [0, 1]. */
  samplingRate: number;
  scrape?: ScrapeSettings;
  /** Where the target was declared: the config file or the API. */
  source: 'config' | 'api';
  /** ms since the epoch. */
  createdAt: number;
  updatedAt: number;
}

/** Windows of one series over a time range. */
export interface WindowQuery {
  target: string;
  granularity: number;
  dim: Dimension;
  key: string;
  /** Inclusive window-start bound, ms. */
  from: number;
  /** Exclusive window-start bound, ms. */
  to: number;
}

/** The heaviest keys of one dimension over a time range. */
export interface TopQuery {
  target: string;
  granularity: number;
  dim: Exclude<Dimension, 'total'>;
  from: number;
  to: number;
  by: 'count' | 'bytes';
  limit: number;
}

/** One key's totals over a range. */
export interface TopRow {
  key: string;
  count: number;
  estCount: number;
  bytes: number;
  estBytes: number;
  errors: number;
}

/** Decisions of one target, newest first. */
export interface DecisionQuery {
  target: string;
  limit: number;
  /** Only decisions made before this time (ms): paging back. */
  before?: number;
  status?: DecisionStatus;
}

/** Anomaly events of one target, newest start first. */
export interface AnomalyQuery {
  target: string;
  limit: number;
  /** Only events that started before this time (ms): paging back. */
  before?: number;
  state?: TriageState;
  /** Only events still going on (no end yet), whatever their triage state: what a restarted loop takes back. */
  ongoing?: boolean;
}

/** The right to run the loops that write a shared store (see owner.ts). */
export interface StoreLease {
  readonly isHeld: boolean;
  /** Takes the lease if it is free; true when held. */
  tryAcquire(): Promise<boolean>;
  /** Who recorded themselves as the holder last. */
  holder(): Promise<Owner | undefined>;
  release(): Promise<void>;
}

/** The durable half of the Shadow Store. */
export interface ShadowStore {
  /** `sqlite` or `postgres`. */
  readonly backend: string;
  /** Creates the schema if missing. Idempotent. */
  init(): Promise<void>;
  /**
   * Upserts windows in one transaction: all are written or none. They come as rows or packed
   * (row-pack.ts: what a flush gives, read without a row object per window where the backend can).
   */
  writeWindows(windows: WindowWrite): Promise<void>;
  /** Keeps windows the store refused, by id: a window refused again gets its newer row and error, and one more attempt. */
  quarantineWindows(entries: readonly QuarantinedWindow[]): Promise<void>;
  /** Quarantined windows, last refused first. */
  listQuarantine(limit: number): Promise<QuarantinedWindow[]>;
  /** Count of quarantined windows. */
  quarantineCount(): Promise<number>;
  /** Rows not yet final, for the rollup engine to carry on from after a restart. */
  loadOpenWindows(): Promise<WindowRow[]>;
  /** Windows of one series, ordered by start. */
  queryWindows(query: WindowQuery): Promise<WindowRow[]>;
  /** Keys ordered by estimated count or bytes, descending. */
  topKeys(query: TopQuery): Promise<TopRow[]>;
  /** Deletes windows of `granularity` that started before `before` (ms); returns how many. */
  deleteWindowsBefore(granularity: number, before: number): Promise<number>;
  /**
   * Deletes the series (target, dim, key) that hold no window any more, once retention has deleted
   * their last one (a fleet whose keys churn would otherwise keep a dictionary row for every key it
   * ever saw); returns how many. A series written again later is added again.
   */
  deleteEmptySeries(): Promise<number>;
  /** Count of distinct series (target, dim, key) stored. */
  seriesCount(): Promise<number>;
  listTargets(): Promise<TargetRecord[]>;
  getTarget(name: string): Promise<TargetRecord | undefined>;
  /** Inserts or replaces a target. */
  putTarget(target: TargetRecord): Promise<void>;
  /**
   * Deletes a target, its windows, decisions, conditions, control state, anomaly events and capacity
   * runs (the audit trail is kept); false when there was none.
   */
  deleteTarget(name: string): Promise<boolean>;
  /** Inserts or replaces a decision record (by id). */
  putDecision(decision: DecisionRecord): Promise<void>;
  getDecision(id: string): Promise<DecisionRecord | undefined>;
  /** Decisions ordered newest first (ties by id). */
  listDecisions(query: DecisionQuery): Promise<DecisionRecord[]>;
  /** Inserts or replaces the condition of `target` with the condition's type. */
  putCondition(target: string, condition: Condition): Promise<void>;
  /** Conditions of a target, by type name. */
  listConditions(target: string): Promise<Condition[]>;
  getControlState(target: string): Promise<ControlState | undefined>;
  putControlState(state: ControlState): Promise<void>;
  appendAudit(entry: AuditEntry): Promise<void>;
  /** Audit entries of a target, newest first. */
  listAudit(target: string, limit: number): Promise<AuditEntry[]>;
  /**
   * Inserts or updates an anomaly event of `target` by its id (`at`: the write time). An update
   * takes the event's end, severity, drivers and kind but never undoes an operator's triage: the
   * stored state only moves from `open`/`acknowledged` to `resolved` when the event closes (the
   * actor is then `system`).
   */
  putAnomaly(target: string, event: AnomalyEvent, at: number): Promise<void>;
  getAnomaly(id: string): Promise<AnomalyRecord | undefined>;
  /** Anomaly events ordered newest start first (ties by id). */
  listAnomalies(query: AnomalyQuery): Promise<AnomalyRecord[]>;
  /** Anomaly events in triage state `open`, per target (of `target` only, when given); targets with none are absent. */
  openAnomalyCounts(target?: string): Promise<Record<string, number>>;
  /**
   * Sets the triage state of an event only if it is still `from` (compare-and-set); resolves
   * false when the event is missing or its state changed meanwhile. Transition rules are the
   * caller's (src/detect/events.ts withTriage).
   */
  setAnomalyTriage(id: string, from: TriageState, to: TriageState, change: TriageChange): Promise<boolean>;
  /** Inserts or replaces a capacity run (by id). */
  putCapacityRun(run: CapacityRun): Promise<void>;
  getCapacityRun(id: string): Promise<CapacityRun | undefined>;
  /** Capacity runs of a target, newest first. */
  listCapacityRuns(target: string, limit: number): Promise<CapacityRun[]>;
  /**
   * A lease for the loops, on a backend several instances share (PostgreSQL); `onLost` is called
   * if a held lease is lost. Absent on an embedded backend, whose data directory lock suffices.
   */
  openLease?(owner: Owner, onLost: (reason: string) => void): StoreLease;
  /** Bytes the store occupies on disk. */
  sizeBytes(): Promise<number>;
  close(): Promise<void>;
}
