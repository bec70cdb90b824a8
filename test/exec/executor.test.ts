/**
 * The executor on a VirtualClock: the replay actuator (a real virtual fleet) and small actuators
 * written here to the Actuator interface, as a plug-in author would, to script failures.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VirtualClock } from '../../src/core/clock.js';
import { isCoded } from '../../src/core/errors.js';
import type { Action, Outcome, TaskTransition } from '../../src/model/action.js';
import type { Actuator } from '../../src/exec/actuator.js';
import { Executor, type ExecutorOptions } from '../../src/exec/executor.js';
import { ReplayActuator, VirtualFleet } from '../../src/exec/replay.js';
import { action, flush, recordingLog, runFor } from './helpers.js';

const ok = (capacity?: number): Outcome => ({ ok: true, reason: 'applied', retryable: false, attempts: 1, ...(capacity === undefined ? {} : { capacity }) });
const fail = (reason: string, retryable: boolean): Outcome => ({ ok: false, reason, retryable, attempts: 1 });

/** An actuator that answers from a script, one outcome per call (the last one repeats). */
class Scripted implements Actuator {
  readonly kind = 'scripted';
  calls: Action[] = [];
  constructor(private readonly script: Outcome[]) {}
  async apply(a: Action): Promise<Outcome> {
    this.calls.push(a);
    return this.script[Math.min(this.calls.length - 1, this.script.length - 1)];
  }
}

/** An actuator that never answers until its signal aborts (and one that ignores the signal). */
class Hanging implements Actuator {
  readonly kind = 'hanging';
  constructor(private readonly honourSignal: boolean) {}
  apply(_a: Action, signal: AbortSignal): Promise<Outcome> {
    return new Promise((resolve) => {
      if (this.honourSignal) signal.addEventListener('abort', () => resolve(fail('aborted', false)));
    });
  }
}

function setup(actuator: Actuator, extra: Partial<ExecutorOptions> = {}) {
  const clock = new VirtualClock(1_000_000);
  const log: TaskTransition[] = [];
  const options = { clock, log: recordingLog().log, actuatorFor: () => actuator, random: () => 0.5 };
  const executor = new Executor({ ...options, ...extra, ...(extra.clock ? {} : { clock }) });
  executor.on((t) => log.push(t));
  const states = (taskId: string) => log.filter((t) => t.taskId === taskId).map((t) => t.to);
  return { clock: (extra.clock as VirtualClock | undefined) ?? clock, executor, log, states };
}

function accepted(s: ReturnType<Executor['submit']>) {
  assert.equal(s.accepted, true, s.accepted ? '' : `${s.reason}: ${s.message}`);
  return s as Extract<typeof s, { accepted: true }>;
}

test('a scale action on the virtual fleet is applied, verified once the units are ready, and timestamped', async () => {
  const clock = new VirtualClock(1_000_000);
  const fleet = new VirtualFleet(clock, 60_000);
  fleet.setDesired('db-1', 2);
  clock.advance(60_000);
  const replay = new ReplayActuator(fleet);
  const { executor, log, states } = setup(replay, { clock, observe: replay.observe, settings: { verifyIntervalMs: 10_000, verifyDeadlineMs: 120_000 } });
  const sub = accepted(executor.submit(action({ from: 2, to: 4 })));
  const start = clock.now();
  await runFor(clock, 70_000, 5_000);
  const done = await sub.done;
  assert.equal(done.state, 'succeeded');
  assert.deepEqual(states(sub.taskId), ['pending', 'running', 'verifying', 'succeeded']);
  assert.equal(done.observed, 4);
  assert.equal(fleet.ready('db-1'), 4);
  const verified = log.find((t) => t.to === 'succeeded')!;
  // Units ask at `start` are ready 60 s later; the poll every 10 s sees them at the first poll after that.
  assert.equal(verified.at, start + 60_000);
  assert.match(verified.reason, /observed 4 for 4 asked/);
  assert.deepEqual(executor.get(sub.taskId)?.state, 'succeeded');
  assert.equal(executor.list().length, 0);
});

test('retryable failures are retried with exponential backoff and jitter, on the clock, up to maxAttempts', async () => {
  const actuator = new Scripted([fail('HTTP 503', true), fail('HTTP 503', true), ok()]);
  const { clock, executor, log, states } = setup(actuator, { settings: { maxAttempts: 3, backoff: { baseMs: 1000, factor: 2, maxMs: 10_000, jitter: 0.5 } } });
  const sub = accepted(executor.submit(action()));
  await runFor(clock, 10_000, 250);
  const done = await sub.done;
  assert.equal(done.state, 'succeeded');
  assert.equal(done.attempt, 3);
  assert.equal(actuator.calls.length, 3);
  assert.deepEqual(states(sub.taskId), ['pending', 'running', 'retrying', 'running', 'retrying', 'running', 'succeeded']);
  const runs = log.filter((t) => t.to === 'running').map((t) => t.at - log[0].at);
  // random() = 0.5 and jitter 0.5: each delay is 75 % of 1000 * 2^(n-1); steps of 250 ms land exactly.
  assert.deepEqual(runs, [0, 750, 750 + 1500]);
  assert.match(log.find((t) => t.to === 'retrying')!.reason, /HTTP 503; retry in 750 ms/);
});

test('retries stop at maxAttempts and a non-retryable failure is not retried', async () => {
  const always = new Scripted([fail('HTTP 503', true)]);
  const a = setup(always, { settings: { maxAttempts: 2, backoff: { baseMs: 100 } } });
  const s1 = accepted(a.executor.submit(action()));
  await runFor(a.clock, 1000);
  const d1 = await s1.done;
  assert.equal(d1.state, 'failed');
  assert.equal(always.calls.length, 2);
  assert.match(d1.transitions.at(-1)!.reason, /gave up after 2 attempt/);

  const refused = new Scripted([fail('HTTP 400 bad target', false)]);
  const b = setup(refused);
  const s2 = accepted(b.executor.submit(action()));
  await flush();
  const d2 = await s2.done;
  assert.equal(d2.state, 'failed');
  assert.equal(refused.calls.length, 1);
  assert.match(d2.transitions.at(-1)!.reason, /HTTP 400 bad target \(not retryable\)/);
});

test('concurrency limits refuse with ExecutorBusy values; duplicates and missing actuators have their own reasons', async () => {
  const { executor } = setup(new Hanging(true), { settings: { maxPerTarget: 1, maxConcurrent: 2 } });
  accepted(executor.submit(action({ target: 'a', idempotencyKey: 'k-a' })));
  const sameTarget = executor.submit(action({ target: 'a' }));
  assert.equal(sameTarget.accepted, false);
  assert.equal(!sameTarget.accepted && sameTarget.reason, 'ExecutorBusy');
  assert.match(!sameTarget.accepted ? sameTarget.message : '', /target a has 1 active task.*limit 1 per target/);
  const dup = executor.submit(action({ target: 'b', idempotencyKey: 'k-a' }));
  assert.equal(!dup.accepted && dup.reason, 'DuplicateAction');
  accepted(executor.submit(action({ target: 'b' })));
  const global = executor.submit(action({ target: 'c' }));
  assert.equal(!global.accepted && global.reason, 'ExecutorBusy');
  assert.match(!global.accepted ? global.message : '', /2 tasks active; global limit 2/);
  assert.equal(executor.list().length, 2);
  assert.equal(executor.list('a').length, 1);

  const none = new Executor({ clock: new VirtualClock(), log: recordingLog().log, actuatorFor: () => undefined });
  const n = none.submit(action());
  assert.equal(!n.accepted && n.reason, 'NoActuator');
  await executor.close();
});

/** A fleet of 2 ready units whose new units take 10 minutes to boot, verified for only 2 minutes. */
function slowBootingFleet() {
  const clock = new VirtualClock(0);
  const fleet = new VirtualFleet(clock, 600_000);
  const replay = new ReplayActuator(fleet);
  const s = setup(replay, { clock, observe: replay.observe, settings: { verifyDeadlineMs: 120_000, verifyIntervalMs: 30_000 } });
  fleet.setDesired('db-1', 2);
  clock.advance(600_000);
  return { ...s, clock, fleet };
}

test('a verification deadline miss rolls the action back on the fleet', async () => {
  const { clock, fleet, executor, states, log } = slowBootingFleet();
  const sub = accepted(executor.submit(action({ from: 2, to: 5 })));
  await runFor(clock, 130_000, 10_000);
  const done = await sub.done;
  assert.deepEqual(states(sub.taskId), ['pending', 'running', 'verifying', 'rolling-back', 'rolled-back']);
  assert.equal(done.state, 'rolled-back');
  assert.match(log.find((t) => t.to === 'rolling-back')!.reason, /verification deadline of 120000 ms missed: last observed 2, 5 asked/);
  assert.equal(fleet.desired('db-1'), 2);
  assert.equal(log.find((t) => t.to === 'rolling-back')!.at - log.find((t) => t.to === 'verifying')!.at, 120_000);
});

test('close() ends a verifying task at once as failed, not verified and not rolled back', async () => {
  const { clock, fleet, executor, states, log } = slowBootingFleet();
  const sub = accepted(executor.submit(action({ from: 2, to: 5 })));
  await runFor(clock, 40_000, 10_000);
  assert.equal(states(sub.taskId).at(-1), 'verifying');
  // No clock advance: close must not wait for the verification deadline.
  await executor.close();
  const done = await sub.done;
  assert.deepEqual(states(sub.taskId), ['pending', 'running', 'verifying', 'failed']);
  assert.match(log.at(-1)!.reason, /not verified: the executor closed while verifying \(not rolled back\)/);
  assert.equal(done.state, 'failed');
  assert.equal(fleet.desired('db-1'), 5, 'the applied action stays');
});

test('without a rollback a missed verification fails the task; without an observer it succeeds unverified', async () => {
  const a = setup(new Scripted([ok()]), { observe: async () => 1, settings: { verifyDeadlineMs: 1000, verifyIntervalMs: 400 } });
  const s1 = accepted(a.executor.submit(action({ from: 1, to: 3 })));
  await runFor(a.clock, 1500);
  const d1 = await s1.done;
  assert.equal(d1.state, 'failed');
  assert.match(d1.transitions.at(-1)!.reason, /missed: last observed 1, 3 asked; the scripted actuator has no rollback/);

  const b = setup(new Scripted([ok()]));
  const s2 = accepted(b.executor.submit(action()));
  await flush();
  assert.match((await s2.done).transitions.at(-1)!.reason, /not verified \(no observer configured\)/);
});

test('scale-down is verified when capacity drops to the target; an observer that throws is reported', async () => {
  let capacity = 5;
  const { clock, executor } = setup(new Scripted([ok()]), {
    observe: async () => {
      if (capacity === 5) throw new Error('metrics endpoint down');
      return capacity;
    },
    settings: { verifyDeadlineMs: 10_000, verifyIntervalMs: 1000 },
  });
  const sub = accepted(executor.submit(action({ from: 5, to: 3 })));
  await runFor(clock, 2000);
  capacity = 3;
  await runFor(clock, 2000);
  assert.equal((await sub.done).state, 'succeeded');

  const s2 = accepted(executor.submit(action({ from: 5, to: 3 })));
  capacity = 5;
  await runFor(clock, 11_000, 500);
  assert.match((await s2.done).transitions.at(-1)!.reason, /nothing observed, 3 asked; observer failed: metrics endpoint down/);
});

test('cancel stops pending and retrying tasks; finished and verifying tasks refuse with a coded error', async () => {
  const { clock, executor, states } = setup(new Scripted([fail('HTTP 503', true)]), { settings: { backoff: { baseMs: 60_000 } } });
  const pending = accepted(executor.submit(action()));
  executor.cancel(pending.taskId, 'operator said stop');
  const p = await pending.done;
  assert.deepEqual(states(pending.taskId), ['pending', 'cancelled']);
  assert.match(p.transitions.at(-1)!.reason, /operator said stop/);

  const retrying = accepted(executor.submit(action()));
  await runFor(clock, 1000);
  assert.equal(executor.get(retrying.taskId)?.state, 'retrying');
  executor.cancel(retrying.taskId);
  await flush();
  assert.equal((await retrying.done).state, 'cancelled');

  assert.throws(() => executor.cancel(retrying.taskId), (err) => isCoded(err, 'SHADOWPLANE_ERR_EXEC_TRANSITION'));
  assert.throws(() => executor.cancel('nope'), (err) => isCoded(err, 'SHADOWPLANE_ERR_NOT_FOUND'));

  const v = setup(new Scripted([ok()]), { observe: async () => 0, settings: { verifyDeadlineMs: 5000 } });
  const verifying = accepted(v.executor.submit(action()));
  await flush();
  assert.equal(v.executor.get(verifying.taskId)?.state, 'verifying');
  assert.throws(() => v.executor.cancel(verifying.taskId), /illegal transition verifying -> cancelled/);
  await runFor(v.clock, 6000, 1000);
  assert.equal((await verifying.done).state, 'failed');
});

test('cancelling a running task aborts the actuator; an actuator that ignores its signal is cut off at applyTimeoutMs', async () => {
  const a = setup(new Hanging(true));
  const s1 = accepted(a.executor.submit(action()));
  await flush();
  assert.equal(a.executor.get(s1.taskId)?.state, 'running');
  a.executor.cancel(s1.taskId);
  await flush();
  assert.equal((await s1.done).state, 'cancelled');

  const b = setup(new Hanging(false), { settings: { applyTimeoutMs: 5000, maxAttempts: 2, backoff: { baseMs: 1000 } } });
  const s2 = accepted(b.executor.submit(action()));
  await runFor(b.clock, 12_000, 500);
  const d2 = await s2.done;
  assert.equal(d2.state, 'failed');
  assert.equal(d2.attempt, 2);
  assert.match(d2.transitions.at(-1)!.reason, /no answer from the hanging actuator within 5000 ms/);
});

test('bad input: malformed actions and settings are refused with field problems; a throwing listener is contained and logged', async () => {
  const { log, records } = recordingLog();
  const { executor } = setup(new Scripted([ok()]), { log });
  assert.throws(
    () => executor.submit({ ...action(), kind: 'explode', to: Number.NaN, target: '' } as unknown as Action),
    (err) => isCoded(err, 'SHADOWPLANE_ERR_VALIDATION') && err.problems.map((p) => p.path).sort().join() === '/kind,/target,/to',
  );
  assert.throws(
    () => new Executor({
      clock: new VirtualClock(), log: recordingLog().log, actuatorFor: () => undefined, settings: { maxPerTarget: 0, backoff: { jitter: 2 } },
    }),
    (err) => isCoded(err, 'SHADOWPLANE_ERR_CONFIG_INVALID') && err.problems.some((p) => p.path === '/executor/maxPerTarget') && err.problems.some((p) => p.path === '/executor/backoff/jitter'),
  );
  executor.on(() => {
    throw new Error('recorder broke');
  });
  const s = accepted(executor.submit(action()));
  await flush();
  assert.equal((await s.done).state, 'succeeded');
  assert.ok(records.some((r) => r.msg === 'transition listener failed' && r.taskId === s.taskId && r.level === 50), 'the listener\'s failure is logged as an error with its task');
});

test('an actuator that throws fails the task without retry; close() refuses new work and cancels what it can', async () => {
  const thrower: Actuator = { kind: 'broken', apply: async () => { throw new Error('boom'); } };
  const a = setup(thrower);
  const s = accepted(a.executor.submit(action()));
  await flush();
  const d = await s.done;
  assert.equal(d.state, 'failed');
  assert.match(d.transitions.at(-1)!.reason, /the broken actuator threw: boom \(not retryable\)/);

  const b = setup(new Hanging(true));
  const running = accepted(b.executor.submit(action()));
  await flush();
  await b.executor.close();
  assert.equal((await running.done).state, 'cancelled');
  const after = b.executor.submit(action());
  assert.equal(!after.accepted && after.reason, 'ExecutorClosed');
});
