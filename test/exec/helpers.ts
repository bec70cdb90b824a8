/** Shared test helpers for the executor tests: actions, a log that keeps its records, and driving a VirtualClock with async code. */
import { pino } from 'pino';
import type { VirtualClock } from '../../src/core/clock.js';
import type { Action } from '../../src/model/action.js';
import type { Logger } from '../../src/obs/log.js';

let n = 0;

/** A valid scale action; fields can be overridden. */
export function action(over: Partial<Action> = {}): Action {
  n += 1;
  return {
    id: `a${n}`,
    target: 'db-1',
    kind: 'scale',
    from: 2,
    to: 4,
    reason: 'ForecastAboveThreshold',
    mode: 'proactive',
    idempotencyKey: `key-${n}`,
    createdAt: Date.UTC(2026, 0, 1),
    ...over,
  };
}

/** Lets pending promise callbacks and I/O callbacks run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

/** Advances the clock by `ms` in steps, letting async code run between steps. */
export async function runFor(clock: VirtualClock, ms: number, stepMs = 100): Promise<void> {
  await flush();
  for (let done = 0; done < ms; done += stepMs) {
    clock.advance(Math.min(stepMs, ms - done));
    await flush();
  }
}

/** A real pino logger whose records (parsed) are kept in `records` instead of written out. */
export function recordingLog(): { log: Logger; records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void records.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, records };
}
