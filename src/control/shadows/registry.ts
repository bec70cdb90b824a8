/**
 * The shadow components the service knows: declared in the config file (`shadows:`) or registered
 * through the API (kept in `<dataDir>/shadows.json`, mode 0600 as it may hold tokens). Like the
 * Prometheus scraper, the registry pulls: it reads each component's status from its admin API on
 * the component's interval and keeps the last one seen, so an unreachable component shows as such
 * with what it last said. Operator actions are relayed to the component with the token registered
 * for it, and each attempt — done, refused or unreachable — is written to the audit trail under
 * `shadow:<name>` with who and why.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Clock } from '../../core/clock.js';
import { durationMs } from '../../core/schema.js';
import { ShadowplaneError } from '../../core/errors.js';
import type { AuditEntry } from '../../model/decision.js';
import type { Logger } from '../../obs/log.js';
import type { ShadowStore } from '../../store/store.js';
import type { Requester } from '../controller.js';
import { ACTION_KIND, act, readStatus, type Endpoint, type ShadowAction, type ShadowKind } from './components.js';

/** A component as declared or registered. */
export interface ShadowSpec {
  readonly name: string;
  readonly kind: ShadowKind;
  readonly url: string;
  readonly token?: string;
  readonly target?: string;
  readonly interval: string;
}

/** What the API shows of a component: its registration (never the token) and its last status. */
export interface ShadowView {
  readonly name: string;
  readonly kind: ShadowKind;
  readonly url: string;
  readonly target: string | null;
  readonly interval: string;
  readonly source: 'config' | 'api';
  readonly hasToken: boolean;
  /** Whether the last status read succeeded; null before the first read. */
  readonly reachable: boolean | null;
  /** When the status was last read (tried), ms. */
  readonly polledAt: number | null;
  /** When a status read last succeeded, ms: the time `status` describes. */
  readonly seenAt: number | null;
  /** Why the last read failed. */
  readonly error: string | null;
  /** The kind's status view as last seen (kept while the component is unreachable). */
  readonly status: unknown;
}

interface Entry {
  spec: ShadowSpec;
  source: 'config' | 'api';
  reachable: boolean | null;
  polledAt: number | null;
  seenAt: number | null;
  error: string | null;
  status: unknown;
  cancel?: () => void;
  reading?: Promise<void>;
}

/** Dependencies of the registry. */
export interface ShadowRegistryDeps {
  readonly clock: Clock;
  readonly store: ShadowStore;
  readonly log: Logger;
  /** Where API registrations persist; undefined keeps them in memory only. */
  readonly file?: string;
  /** Called when a component's reachability or status changed, or it was added or removed. */
  readonly onChange?: (name: string) => void;
  /** Timeout of one admin request, ms (default 3000, never above the component's interval). */
  readonly timeoutMs?: number;
}

/** The audit-trail key of a component. */
export const auditKey = (name: string): string => `shadow:${name}`;

/** The registry; `load`, then `start`, and `stop` at the end. */
export class ShadowRegistry {
  private readonly entries = new Map<string, Entry>();
  private started = false;

  constructor(private readonly deps: ShadowRegistryDeps) {}

  /**
   * Loads the API registrations kept in the file, then the config's declarations (which win on a
   * name clash). SHADOWPLANE_ERR_CONFIG_UNREADABLE when the file cannot be read or parsed.
   */
  load(declared: readonly ShadowSpec[]): void {
    const file = this.deps.file;
    if (file && existsSync(file)) {
      let saved: { shadows?: ShadowSpec[] };
      try {
        saved = JSON.parse(readFileSync(file, 'utf8')) as { shadows?: ShadowSpec[] };
      } catch (err) {
        throw new ShadowplaneError('SHADOWPLANE_ERR_CONFIG_UNREADABLE', `cannot read the registered shadow components in ${file}: ${(err as Error).message}`);
      }
      for (const spec of saved.shadows ?? []) this.entries.set(spec.name, fresh(spec, 'api'));
    }
    for (const spec of declared) this.entries.set(spec.name, fresh(spec, 'config'));
  }

  /** Starts reading every component's status on its interval (the first read at once). */
  start(): void {
    this.started = true;
    for (const name of this.entries.keys()) this.schedule(name, 0);
  }

  /** Stops every read. */
  stop(): void {
    this.started = false;
    for (const e of this.entries.values()) e.cancel?.();
  }

  /** Every component, by name. */
  list(): ShadowView[] {
    return [...this.entries.values()].sort((a, b) => a.spec.name.localeCompare(b.spec.name)).map(view);
  }

  /** One component; SHADOWPLANE_ERR_SHADOW_NOT_FOUND otherwise. */
  get(name: string): ShadowView {
    return view(this.entry(name));
  }

  /**
   * Declares a component the service itself runs (the demo's proxy): like a config declaration,
   * not saved and not removable through the API; its status is read from then on.
   */
  declare(spec: ShadowSpec): void {
    this.entries.set(spec.name, fresh(spec, 'config'));
    this.deps.onChange?.(spec.name);
    if (this.started) this.schedule(spec.name, 0);
  }

  /** Registers a component through the API, reads its status once and returns it. */
  async register(spec: ShadowSpec, who: Requester): Promise<ShadowView> {
    if (this.entries.has(spec.name)) throw new ShadowplaneError('SHADOWPLANE_ERR_SHADOW_EXISTS', `a shadow component called "${spec.name}" is registered already`);
    this.entries.set(spec.name, fresh(spec, 'api'));
    this.save();
    await this.audit(spec.name, 'register', who, { kind: spec.kind, url: spec.url, target: spec.target ?? null });
    this.deps.onChange?.(spec.name);
    await this.poll(spec.name);
    if (this.started) this.schedule(spec.name, durationMs(spec.interval));
    return this.get(spec.name);
  }

  /** Removes a component registered through the API; SHADOWPLANE_ERR_SHADOW_DECLARED for one from the config file. */
  async remove(name: string, who: Requester): Promise<void> {
    const e = this.entry(name);
    if (e.source === 'config') throw new ShadowplaneError('SHADOWPLANE_ERR_SHADOW_DECLARED', `shadow component "${name}" is declared in the config file; remove it there`);
    e.cancel?.();
    this.entries.delete(name);
    this.save();
    await this.audit(name, 'unregister', who, null);
    this.deps.onChange?.(name);
  }

  /** Reads a component's status now (joining a read in flight) and returns the view. */
  async poll(name: string): Promise<ShadowView> {
    const e = this.entry(name);
    e.reading ??= this.read(e).finally(() => (e.reading = undefined));
    await e.reading;
    return view(e);
  }

  /**
   * Relays an operator action to the component, audits the attempt, re-reads the status and
   * returns the component's answer with the new view. Rejects with the relayed error (see `call`)
   * or SHADOWPLANE_ERR_SHADOW_KIND when the action is not for this kind of component.
   */
  async act(name: string, action: ShadowAction, who: Requester): Promise<{ result: unknown; shadow: ShadowView }> {
    const e = this.entry(name);
    const kind = ACTION_KIND[action.op];
    if (e.spec.kind !== kind) throw new ShadowplaneError('SHADOWPLANE_ERR_SHADOW_KIND', `shadow component "${name}" is a ${e.spec.kind} component; ${action.op} applies to ${kind} components`);
    const what = action.op === 'migration' ? `migration-${action.command}` : action.op;
    const { op: _op, ...args } = action;
    let result: unknown;
    try {
      result = await act(this.endpoint(e), action, who.why);
    } catch (err) {
      const coded = err instanceof ShadowplaneError ? err : new ShadowplaneError('SHADOWPLANE_ERR_SHADOW_UNREACHABLE', (err as Error).message);
      await this.audit(name, what, who, { ...args, outcome: 'failed', code: coded.code, error: coded.message });
      throw coded;
    }
    await this.audit(name, what, who, { ...args, outcome: 'done' });
    // A read begun before the action would show the old state: let it end, then read again.
    await e.reading;
    return { result, shadow: await this.poll(name) };
  }

  /** The audit trail of a component, newest first. */
  auditTrail(name: string, limit: number): Promise<AuditEntry[]> {
    this.entry(name);
    return this.deps.store.listAudit(auditKey(name), limit);
  }

  private entry(name: string): Entry {
    const e = this.entries.get(name);
    if (!e) throw new ShadowplaneError('SHADOWPLANE_ERR_SHADOW_NOT_FOUND', `no shadow component is called "${name}"`);
    return e;
  }

  private endpoint(e: Entry): Endpoint {
    return { name: e.spec.name, url: e.spec.url, token: e.spec.token, timeoutMs: Math.min(this.deps.timeoutMs ?? 3000, durationMs(e.spec.interval)) };
  }

  private async read(e: Entry): Promise<void> {
    const before = JSON.stringify([e.reachable, e.error, e.status]);
    e.polledAt = this.deps.clock.now();
    try {
      e.status = await readStatus(e.spec.kind, this.endpoint(e));
      e.reachable = true;
      e.error = null;
      e.seenAt = e.polledAt;
    } catch (err) {
      if (e.reachable !== false) this.deps.log.warn({ shadow: e.spec.name, url: e.spec.url, err: (err as Error).message }, 'shadow component status read failed');
      e.reachable = false;
      e.error = (err as Error).message;
    }
    // A component removed while its read was in flight is gone: no news about it.
    if (this.entries.get(e.spec.name) === e && JSON.stringify([e.reachable, e.error, e.status]) !== before) this.deps.onChange?.(e.spec.name);
  }

  private schedule(name: string, ms: number): void {
    const e = this.entries.get(name);
    if (!e) return;
    e.cancel?.();
    e.cancel = this.deps.clock.setTimer(ms, () => {
      void this.poll(name).catch(() => undefined).finally(() => {
        if (this.started && this.entries.get(name) === e) this.schedule(name, durationMs(e.spec.interval));
      });
    });
  }

  private async audit(name: string, action: string, who: Requester, detail: unknown): Promise<void> {
    const entry: AuditEntry = { id: randomUUID(), target: auditKey(name), at: this.deps.clock.now(), actor: who.actor, why: who.why, action, detail };
    await this.deps.store.appendAudit(entry);
  }

  private save(): void {
    const file = this.deps.file;
    if (!file) return;
    const specs = [...this.entries.values()].filter((e) => e.source === 'api').map((e) => e.spec);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(`${file}.tmp`, JSON.stringify({ shadows: specs }, null, 2) + '\n', { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
  }
}

function fresh(spec: ShadowSpec, source: 'config' | 'api'): Entry {
  return { spec, source, reachable: null, polledAt: null, seenAt: null, error: null, status: null };
}

function view(e: Entry): ShadowView {
  const s = e.spec;
  return {
    name: s.name, kind: s.kind, url: s.url, target: s.target ?? null, interval: s.interval, source: e.source, hasToken: Boolean(s.token),
    reachable: e.reachable, polledAt: e.polledAt, seenAt: e.seenAt, error: e.error, status: e.status,
  };
}
