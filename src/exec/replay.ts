/**
 * The replay actuator and the virtual fleet it drives: per target, a desired number of units, each
 * ready a fixed provisioning delay after it was asked for, on the injected clock. Scale-down is
 * immediate and cancels booting units first (the world of docs/replay-model.md).
 */
import type { Clock } from '../core/clock.js';
import { ShadowplaneError } from '../core/errors.js';
import type { Action, Outcome } from '../model/action.js';
import { failure, type Actuator, type ObservableWorld } from './actuator.js';

/** A minimal fleet of units per target on a clock. */
export class VirtualFleet implements ObservableWorld {
  /** Per target, the time each unit is (or was) ready, ascending. */
  private readonly units = new Map<string, number[]>();

  /** `provisioningDelayMs`: how long after being asked for a new unit becomes ready. */
  constructor(
    private readonly clock: Clock,
    readonly provisioningDelayMs: number,
  ) {}

  /**
   * Sets the desired unit count of `target`: new units become ready after the provisioning delay;
   * removed units go at once, booting ones first.
   * @throws ShadowplaneError SHADOWPLANE_ERR_VALIDATION when `count` is not a whole number >= 0.
   */
  setDesired(target: string, count: number): void {
    if (!Number.isInteger(count) || count < 0) {
      throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', `desired count for ${target} must be a whole number >= 0`, [
        { path: 'count', message: `must be a whole number >= 0, got ${count}` },
      ]);
    }
    const units = this.units.get(target) ?? [];
    const readyAt = this.clock.now() + this.provisioningDelayMs;
    while (units.length < count) units.push(readyAt);
    units.length = count;
    this.units.set(target, units);
  }

  /**
   * Declares the units `target` already has, all ready now: the fleet's starting state (the world
   * starts with its replicas ready, and a restarted service finds its units running).
   */
  establish(target: string, count: number): void {
    this.setDesired(target, 0);
    this.units.set(target, Array.from({ length: count }, () => this.clock.now()));
  }

  /** Units that exist (ready or booting). 0 for an unknown target. */
  desired(target: string): number {
    return this.units.get(target)?.length ?? 0;
  }

  /** Units ready now. 0 for an unknown target. */
  ready(target: string): number {
    const now = this.clock.now();
    return (this.units.get(target) ?? []).filter((at) => at <= now).length;
  }
}

/** Applies capacity actions to a VirtualFleet; rollback sets the count back to `action.from`. */
export class ReplayActuator implements Actuator {
  readonly kind = 'replay';

  constructor(readonly fleet: VirtualFleet) {}

  /** The fleet is observable: tasks are verified against its ready units. */
  get world(): VirtualFleet {
    return this.fleet;
  }

  /** Sets the desired count to `action.to`; fails (not retryable) unless it is a whole number >= 0. */
  async apply(action: Action): Promise<Outcome> {
    return this.set(action.target, action.to);
  }

  /** Sets the desired count back to `action.from`. */
  async rollback(action: Action): Promise<Outcome> {
    return this.set(action.target, action.from);
  }

  /** The executor's observe function for this fleet: the ready units of the action's target. */
  readonly observe = async (action: Action): Promise<number> => this.fleet.ready(action.target);

  private set(target: string, value: number | string): Outcome {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      return failure(`the replay fleet needs a whole number >= 0, got ${JSON.stringify(value)}`, false, 1);
    }
    this.fleet.setDesired(target, value);
    return { ok: true, reason: `desired ${value}`, retryable: false, attempts: 1, capacity: value };
  }
}
