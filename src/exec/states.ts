/**
 * The executor's state-transition table: the only moves a task may make. Anything else is a bug
 * or a request that comes too late (cancelling a finished task) and is refused with a coded error.
 */
import { ShadowplaneError } from '../core/errors.js';
import type { TaskState } from '../model/action.js';

/** For each state, the states a task may move to next. States with no moves are terminal. */
export const TRANSITIONS: Readonly<Record<TaskState, readonly TaskState[]>> = {
  pending: ['running', 'cancelled'],
  running: ['verifying', 'succeeded', 'retrying', 'failed', 'cancelled'],
  retrying: ['running', 'failed', 'cancelled'],
  verifying: ['succeeded', 'failed', 'rolling-back'],
  'rolling-back': ['rolled-back', 'rollback-failed'],
  succeeded: [],
  failed: [],
  'rolled-back': [],
  'rollback-failed': [],
  cancelled: [],
};

/** True when a task in `state` can never change again. */
export function isTerminal(state: TaskState): boolean {
  return TRANSITIONS[state].length === 0;
}

/**
 * Checks one move against the table.
 * @throws ShadowplaneError SHADOWPLANE_ERR_EXEC_TRANSITION when `from -> to` is not in the table.
 */
export function assertTransition(taskId: string, from: TaskState, to: TaskState): void {
  if (TRANSITIONS[from].includes(to)) return;
  const allowed = TRANSITIONS[from].join(', ') || 'none (terminal)';
  throw new ShadowplaneError('SHADOWPLANE_ERR_EXEC_TRANSITION', `task ${taskId}: illegal transition ${from} -> ${to}`, [
    { path: 'state', message: `from ${from} the allowed next states are: ${allowed}` },
  ]);
}
