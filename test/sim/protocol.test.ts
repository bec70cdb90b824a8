import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hpaPolicy, runPolicy, shadowplanePolicy, tuningCut } from '../../src/sim/replay.js';
import { scoreRun } from '../../src/sim/world.js';
import { DEFAULT_SCALING_POLICY } from '../../src/plan/scaling.js';
import { loadDemand } from '../../src/sim/trace.js';
import { AZURE } from './referee.js';

test('the tuning cut is the middle of the scoring window', () => {
  assert.equal(tuningCut(44640), 1440 + 21600);
  assert.equal(tuningCut(2001), 1000); // under two days: scored from 0
  assert.equal(tuningCut(1), 0);
});

test('scoring [start, cut) and [cut, end) adds up to the whole window', () => {
  const demand = [1, 3, 2, 5, 4, 1, 6, 2];
  const ready = [2, 2, 3, 3, 5, 5, 5, 2];
  const billed = [2, 3, 3, 5, 5, 5, 2, 2];
  const all = scoreRun(demand, ready, billed, 0);
  const a = scoreRun(demand, ready, billed, 0, 4);
  const b = scoreRun(demand, ready, billed, 4, 8);
  assert.equal(a.minutes + b.minutes, all.minutes);
  assert.equal(a.cost + b.cost, all.cost);
  assert.equal((a.underprov_time_pct * a.minutes + b.underprov_time_pct * b.minutes) / 100, (all.underprov_time_pct * all.minutes) / 100);
  assert.equal(b.actions, 1); // only minute 6 changes the billed count; minute 4 is the window's first
});

test("the action budget prices actions up while the policy out-acts the reactive reference on a real trace", async () => {
  const D = (await loadDemand(AZURE)).slice(0, 3 * 1440);
  const opts = { delay: 5, target: 0.7 };
  const count = (billed: number[]) => billed.slice(1).filter((b, i) => b !== billed[i]).length;
  const hpa = count(runPolicy(D, hpaPolicy(0.7), opts).billed);
  const cheap = { ...DEFAULT_SCALING_POLICY, actionCost: 5 };
  const free = count(runPolicy(D, shadowplanePolicy({ delay: 5, scaling: cheap, actionBudget: false }), opts).billed);
  const budgeted = count(runPolicy(D, shadowplanePolicy({ delay: 5, scaling: cheap }), opts).billed);
  assert.ok(free > hpa, `without the budget a cheap action price churns (${free} vs hpa ${hpa})`);
  assert.ok(budgeted < free, `the budget cuts actions (${budgeted} < ${free})`);
  // scale-ups are never refused (safety first), so the budget is soft: it prices scale-ins only
  assert.ok(budgeted <= free * 0.75, `by at least a quarter (${budgeted} vs ${free}, hpa ${hpa})`);
});
