/**
 * The managed targets: declared in the config file or created through the API, persisted in the
 * Shadow Store, and held in memory so the ingest path can look up a sampling rate without I/O.
 */
import { EventEmitter } from 'node:events';
import type { Clock } from '../core/clock.js';
import { ShadowplaneError } from '../core/errors.js';
import type { ScrapeSettings, ShadowStore, TargetKind, TargetRecord } from '../store/store.js';

/** What a create or update may set. */
export interface TargetSpec {
  kind: TargetKind;
  labels?: Record<string, string>;
  samplingRate?: number;
  scrape?: ScrapeSettings | null;
}

/** Targets in memory, written through to the store. Emits `change` (name) after every write. */
export class TargetRegistry extends EventEmitter {
  private readonly targets = new Map<string, TargetRecord>();

  constructor(
    private readonly store: ShadowStore,
    private readonly clock: Clock,
  ) {
    super();
  }

  /**
   * Loads the stored targets, then applies the config's declarations: a declared target missing
   * from the store is created; one present gets the declared kind, labels and scrape settings but
   * keeps its stored sampling rate, which the API owns once the target exists.
   */
  async load(declared: readonly (TargetSpec & { name: string })[]): Promise<void> {
    for (const t of await this.store.listTargets()) this.targets.set(t.name, t);
    for (const d of declared) {
      const existing = this.targets.get(d.name);
      const now = this.clock.now();
      const record: TargetRecord = {
        name: d.name,
        kind: d.kind,
        labels: d.labels ?? {},
        samplingRate: existing?.samplingRate ?? d.samplingRate ?? 1,
        source: 'config',
        createdAt: existing?.createdAt ?? now,
        updatedAt: now,
      };
      if (d.scrape) record.scrape = d.scrape;
      await this.write(record);
    }
  }

  /** Every target, by name. */
  list(): TargetRecord[] {
    return [...this.targets.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The target called `name`, or undefined. Synchronous: the ingest path calls it per event. */
  find(name: string): TargetRecord | undefined {
    return this.targets.get(name);
  }

  /** The target called `name`; SHADOWPLANE_ERR_TARGET_NOT_FOUND otherwise. */
  get(name: string): TargetRecord {
    const t = this.targets.get(name);
    if (!t) throw new ShadowplaneError('SHADOWPLANE_ERR_TARGET_NOT_FOUND', `no target is called "${name}"`);
    return t;
  }

  /** Creates a target through the API; SHADOWPLANE_ERR_TARGET_EXISTS when the name is taken. */
  async create(name: string, spec: TargetSpec): Promise<TargetRecord> {
    if (this.targets.has(name)) throw new ShadowplaneError('SHADOWPLANE_ERR_TARGET_EXISTS', `a target called "${name}" exists already`);
    const now = this.clock.now();
    const record: TargetRecord = { name, kind: spec.kind, labels: spec.labels ?? {}, samplingRate: spec.samplingRate ?? 1, source: 'api', createdAt: now, updatedAt: now };
    if (spec.scrape) record.scrape = spec.scrape;
    await this.write(record);
    return record;
  }

  /** Changes some fields of a target; `scrape: null` removes scraping. */
  async update(name: string, patch: Partial<TargetSpec>): Promise<TargetRecord> {
    const current = this.get(name);
    const next: TargetRecord = {
      ...current,
      kind: patch.kind ?? current.kind,
      labels: patch.labels ?? current.labels,
      samplingRate: patch.samplingRate ?? current.samplingRate,
      updatedAt: this.clock.now(),
    };
    if (patch.scrape === null) delete next.scrape;
    else if (patch.scrape) next.scrape = patch.scrape;
    await this.write(next);
    return next;
  }

  /** Deletes a target and its windows; SHADOWPLANE_ERR_TARGET_NOT_FOUND when there is none. */
  async remove(name: string): Promise<void> {
    this.get(name);
    await this.store.deleteTarget(name);
    this.targets.delete(name);
    this.emit('change', name);
  }

  private async write(record: TargetRecord): Promise<void> {
    await this.store.putTarget(record);
    this.targets.set(record.name, record);
    this.emit('change', record.name);
  }
}
