import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConcurrencyLimit } from '../../src/core/limit.js';

/** A task that runs until `finish(i)` is called, recording when it starts. */
function gatedTasks(n: number) {
  const started: number[] = [];
  const finishers: ((fail?: boolean) => void)[] = [];
  const task = (i: number) => () =>
    new Promise<number>((resolve, reject) => {
      started.push(i);
      finishers[i] = (fail) => (fail ? reject(new Error(`task ${i} failed`)) : resolve(i));
    });
  const finish = async (i: number, fail = false) => {
    finishers[i](fail);
    // let the limit hand the slot on
    for (let k = 0; k < 5; k++) await new Promise((r) => setImmediate(r));
  };
  return { started, task, finish, tasks: Array.from({ length: n }, (_, i) => task(i)) };
}

test('at most `limit` tasks run at once; the others start in the order they came, as slots free', async () => {
  const limit = new ConcurrencyLimit(2);
  const { started, tasks, finish } = gatedTasks(5);
  const results = tasks.map((t) => limit.run(t));
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, [0, 1]);
  assert.deepEqual([limit.active, limit.queued], [2, 3]);
  await finish(1);
  assert.deepEqual(started, [0, 1, 2]);
  await finish(0);
  await finish(2);
  assert.deepEqual(started, [0, 1, 2, 3, 4]);
  await finish(3);
  await finish(4);
  assert.deepEqual(await Promise.all(results), [0, 1, 2, 3, 4]);
  assert.deepEqual([limit.active, limit.queued], [0, 0]);
});

test('a task that fails gives its slot back and its caller gets the error', async () => {
  const limit = new ConcurrencyLimit(1);
  const { started, tasks, finish } = gatedTasks(2);
  const first = limit.run(tasks[0]);
  const second = limit.run(tasks[1]);
  await new Promise((r) => setImmediate(r));
  const failed = assert.rejects(first, /task 0 failed/);
  await finish(0, true);
  await failed;
  assert.deepEqual(started, [0, 1]);
  await finish(1);
  assert.equal(await second, 1);
  assert.equal(limit.active, 0);
});

test('a limit that is not a whole number of at least 1 is refused', () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new ConcurrencyLimit(bad), RangeError);
});
