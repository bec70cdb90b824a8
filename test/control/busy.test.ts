/**
 * A busy executor gates the loop: while a webhook task for a target is still in flight (a real
 * local HTTP server that holds its answer), later ticks do not ask for the same units again (they
 * count as booting) and an action the policy still wants is not submitted (no action,
 * `ExecutorBusy`). Exactly one POST arrives until the first answer is sent; after it the loop acts
 * again. Run with the default per-target limit and with a higher one, which the loop does not rely on.
 */
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { DecisionRecord } from '../../src/model/decision.js';
import { testService } from '../helpers/service.js';
import { until } from '../helpers/wait.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const CONTROL = { capacityPerUnit: 10, initialUnits: 2, minWindows: 2, season: '0s', history: '10m', provisioningDelay: '2m', horizon: '10m', scaleUpLookahead: '5m', metric: 'load' };

type Env = Awaited<ReturnType<typeof testService>>;

for (const maxPerTarget of [1, 4]) {
  describe(`a task in flight gates the loop (executor maxPerTarget ${maxPerTarget})`, () => {
    const posts: { to: number; key: string }[] = [];
    const held: { res: ServerResponse; to: number }[] = [];
    let env: Env;
    let server: ReturnType<typeof createServer>;

    /** Answers every held request with the capacity it asked for. */
    const release = () => {
      for (const h of held.splice(0)) h.res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ capacity: h.to }));
    };

    /** One minute of constant load, then the tick; the tick's decision. */
    const minute = async (load: number): Promise<DecisionRecord> => {
      env.service.ingestor.ingestSamples([{ target: 'api', metric: 'load', at: env.clock.now(), value: load }]);
      env.clock.advance(MIN);
      await env.service.controller.idle();
      const [latest] = await env.service.controller.decisions('api', 1);
      return latest;
    };

    before(async () => {
      // a slow receiver: it answers only when the test releases it
      server = createServer((req, res) => {
        let text = '';
        req.on('data', (c: Buffer) => (text += c));
        req.on('end', () => {
          const to = (JSON.parse(text) as { to: number }).to;
          posts.push({ to, key: String(req.headers['idempotency-key']) });
          held.push({ res, to });
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/scale`;
      // timeouts far beyond the minutes the virtual clock moves, so the task stays running
      env = await testService({
        targets: [{ name: 'api', kind: 'service', actuator: { type: 'webhook', url, retries: 0, timeoutMs: 10 * HOUR }, control: CONTROL }],
        control: { executor: { maxAttempts: 1, maxPerTarget, applyTimeoutMs: 10 * HOUR } },
      });
      env.service.controller.start();
    });
    after(async () => {
      release();
      await env.cleanup();
      await new Promise((r) => server.close(r));
    });

    test('one POST while the task runs; the units asked count as booting; a further action is ExecutorBusy', async () => {
      let first: DecisionRecord | undefined;
      for (let i = 0; i < 3 && !first?.action; i++) first = await minute(50);
      assert.ok(first?.action, first?.message);
      assert.equal(first.status, 'submitted', first.message);
      const { from, to } = first.action;
      assert.ok(to > from);
      await until('the first POST', () => posts.length === 1);

      // same load: the loop sees the units it asked for as booting and does not ask for them again
      const same = await minute(50);
      assert.equal(same.action, null, same.message);
      assert.equal(same.status, 'no-action');
      assert.equal(same.inputs.ready, from);
      assert.equal(same.inputs.booting, to - from);
      assert.equal(same.recommendation!.currentUnits, to);
      assert.equal((await env.service.controller.view('api')).capacity.booting, to - from);

      // higher load: the policy wants more, but the task is still running
      const busy = await minute(150);
      assert.ok(busy.recommendation!.desiredUnits > to, JSON.stringify(busy.recommendation));
      assert.equal(busy.status, 'no-action');
      assert.equal(busy.reason, 'ExecutorBusy');
      assert.equal(busy.outcome?.state, 'ExecutorBusy');
      assert.equal(busy.outcome?.taskId, (await env.service.controller.decision(first.id)).outcome?.taskId);
      assert.match(busy.message, /in flight/);
      assert.equal((await env.service.controller.decision(first.id)).status, 'submitted');
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(posts, [{ to, key: `api:${first.id}` }]);

      // an operator's force is gated the same way
      const forced = await env.service.controller.force('api', to + 5, { actor: 'ops', why: 'test the gate' });
      assert.equal(forced.reason, 'ExecutorBusy');
      assert.equal(posts.length, 1);

      // the answer comes: the task succeeds, its units are the loop's, and the loop acts again
      release();
      await until('the first task to succeed', async () => (await env.service.controller.decision(first.id)).status === 'succeeded');
      const next = await minute(150);
      assert.equal(next.status, 'submitted', next.message);
      assert.equal(next.action!.from, to);
      await until('the second POST', () => posts.length === 2);
      assert.equal(posts[1].to, next.action!.to);
    });
  });
}
