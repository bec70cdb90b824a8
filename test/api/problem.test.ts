import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeProblem } from '../../src/api/problem.js';
import { ndjson, testService } from '../helpers/service.js';

test("a refused ingest batch is described with the service's reason, not a bare status", async () => {
  const env = await testService();
  try {
    const res = await env.service.api.inject({ method: 'POST', url: '/v1/events', headers: { 'content-type': 'application/x-ndjson' }, payload: ndjson([{ target: 'ghost', op: 'read', table: 't', bytes: 1, latencyMs: 1, requestId: 'r1', at: env.clock.now() }]) });
    assert.equal(res.statusCode, 400);
    assert.equal(describeProblem(res.statusCode, res.body), 'HTTP 400 SHADOWPLANE_ERR_VALIDATION: all 1 items were rejected (unknown_target /target: must name a declared target; "ghost" is not one)');
  } finally {
    await env.cleanup();
  }
  assert.equal(describeProblem(502, 'Bad Gateway'), 'HTTP 502: Bad Gateway');
  assert.equal(describeProblem(503, ''), 'HTTP 503');
});
