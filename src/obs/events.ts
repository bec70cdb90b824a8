/**
 * Live notifications for the dashboard (`GET /v1/stream`, server-sent events): what changed, not
 * the data itself — a client re-reads the resources it shows. Changes are seen where they are
 * written: every decision, audit entry (overrides, settings, approvals, sampling, shadow actions),
 * anomaly event, capacity run and target write goes through the Shadow Store, so the store is observed; shadow
 * components report through the shadow registry.
 */
import type { ShadowStore } from '../store/store.js';

/** What kind of thing changed. */
export type LiveEventType = 'decision' | 'audit' | 'anomaly' | 'target' | 'shadow' | 'capacity-run';

/** One notification. `target` is the target (or `shadow:<name>` for a shadow's audit entry). */
export interface LiveEvent {
  readonly type: LiveEventType;
  /** Sequence number of this process's notifications (the SSE `id`). */
  readonly seq: number;
  readonly target?: string;
  readonly shadow?: string;
  /** A decision's or anomaly's id, or an audit entry's action. */
  readonly id?: string;
  readonly status?: string;
  readonly action?: string;
}

type Listener = (event: LiveEvent) => void;

/** Fan-out of notifications to the open streams. Publishing never throws and never waits. */
export class EventBus {
  private readonly listeners = new Set<Listener>();
  private seq = 0;

  /** Calls `fn` with every later notification; returns the unsubscribe function. */
  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Sends a notification to every subscriber. */
  publish(event: Omit<LiveEvent, 'seq'>): void {
    const full = { ...event, seq: ++this.seq };
    for (const fn of this.listeners) {
      try {
        fn(full);
      } catch {
        // A broken stream must not stop the writer or the other streams.
      }
    }
  }

  /** Number of subscribers (open streams). */
  get size(): number {
    return this.listeners.size;
  }
}

/** Which writes of the store are announced, and as what. */
const ANNOUNCED: Partial<Record<keyof ShadowStore, (args: unknown[]) => Omit<LiveEvent, 'seq'>>> = {
  putDecision: ([d]) => {
    const r = d as { target: string; id: string; status: string };
    return { type: 'decision', target: r.target, id: r.id, status: r.status };
  },
  appendAudit: ([e]) => {
    const a = e as { target: string; action: string };
    return a.target.startsWith('shadow:') ? { type: 'audit', target: a.target, shadow: a.target.slice(7), action: a.action } : { type: 'audit', target: a.target, action: a.action };
  },
  putAnomaly: ([target, e]) => ({ type: 'anomaly', target: target as string, id: (e as { id: string }).id }),
  setAnomalyTriage: ([id]) => ({ type: 'anomaly', id: id as string }),
  putTarget: ([t]) => ({ type: 'target', target: (t as { name: string }).name }),
  deleteTarget: ([name]) => ({ type: 'target', target: name as string }),
  putCapacityRun: ([r]) => {
    const run = r as { target: string; id: string; status: string };
    return { type: 'capacity-run', target: run.target, id: run.id, status: run.status };
  },
};

/**
 * The same store, announcing its decision, audit, anomaly, capacity-run and target writes on `bus` once they
 * have succeeded. Every other member is the store's own, so the wrapper follows the port as it
 * grows.
 */
export function observeStore(store: ShadowStore, bus: EventBus): ShadowStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== 'function') return value;
      const announce = ANNOUNCED[prop as keyof ShadowStore];
      if (!announce) return (value as (...a: unknown[]) => unknown).bind(target);
      return async (...args: unknown[]) => {
        const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        bus.publish(announce(args));
        return result;
      };
    },
  });
}
