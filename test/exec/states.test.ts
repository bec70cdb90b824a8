import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isCoded } from '../../src/core/errors.js';
import type { TaskState } from '../../src/model/action.js';
import { assertTransition, isTerminal, TRANSITIONS } from '../../src/exec/states.js';

const ALL = Object.keys(TRANSITIONS) as TaskState[];

test('every move in the table is allowed and every other move throws a coded error', () => {
  for (const from of ALL) {
    for (const to of ALL) {
      if (TRANSITIONS[from].includes(to)) {
        assert.doesNotThrow(() => assertTransition('t1', from, to));
      } else {
        assert.throws(
          () => assertTransition('t1', from, to),
          (err) => isCoded(err, 'SHADOWPLANE_ERR_EXEC_TRANSITION') && err.message.includes(`${from} -> ${to}`) && err.problems.length === 1,
        );
      }
    }
  }
});

test('terminal states are exactly the ends of the lifecycle, and every state is reachable from pending', () => {
  assert.deepEqual(ALL.filter(isTerminal).sort(), ['cancelled', 'failed', 'rollback-failed', 'rolled-back', 'succeeded']);
  const seen = new Set<TaskState>(['pending']);
  const queue: TaskState[] = ['pending'];
  while (queue.length) {
    for (const next of TRANSITIONS[queue.shift()!]) {
      if (seen.has(next)) continue;
      seen.add(next);
      queue.push(next);
    }
  }
  assert.deepEqual([...seen].sort(), [...ALL].sort());
});

test('a finished task cannot be cancelled and a verifying one cannot be cancelled either', () => {
  const allowed = (from: TaskState): string => {
    try {
      assertTransition('t9', from, 'cancelled');
      return 'no error';
    } catch (err) {
      return isCoded(err, 'SHADOWPLANE_ERR_EXEC_TRANSITION') ? err.problems[0].message : 'wrong error';
    }
  };
  assert.match(allowed('succeeded'), /none \(terminal\)/);
  assert.match(allowed('verifying'), /succeeded, failed, rolling-back/);
});
