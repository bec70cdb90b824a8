/** The webhook actuator against real HTTP servers on loopback (node:http on port 0). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { realClock } from '../../src/core/clock.js';
import { parseActuatorConfig, type WebhookConfig } from '../../src/exec/config.js';
import { Executor } from '../../src/exec/executor.js';
import { WebhookActuator } from '../../src/exec/webhook.js';
import { action, recordingLog } from './helpers.js';

interface Seen {
  headers: IncomingMessage['headers'];
  body: unknown;
}

/** A real HTTP server whose n-th request (0-based) is answered by `handlers[min(n, last)]`. */
async function server(handlers: ((res: ServerResponse) => void)[]) {
  const seen: Seen[] = [];
  const srv = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8').on('data', (c: string) => (raw += c));
    req.on('end', () => {
      seen.push({ headers: req.headers, body: JSON.parse(raw) });
      handlers[Math.min(seen.length - 1, handlers.length - 1)](res);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/scale`;
  const close = (): Promise<void> => {
    srv.closeAllConnections();
    return new Promise((r) => srv.close(() => r()));
  };
  return { url, seen, close };
}

const json = (status: number, body: unknown) => (res: ServerResponse) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};
const text = (status: number, body: string) => (res: ServerResponse) => {
  res.writeHead(status, { 'content-type': 'text/plain' });
  res.end(body);
};

function webhook(url: string, over: Record<string, unknown> = {}): WebhookActuator {
  const config = parseActuatorConfig({ type: 'webhook', url, timeoutMs: 2000, backoff: { baseMs: 10, maxMs: 50 }, ...over }) as WebhookConfig;
  return new WebhookActuator(config);
}

const signal = (): AbortSignal => new AbortController().signal;

test('a 2xx JSON answer is the outcome; the action, idempotency key, token and headers are sent', async () => {
  const s = await server([json(200, { applied: true, capacity: 4 })]);
  try {
    const a = action({ to: 4 });
    const outcome = await webhook(s.url, { token: 's3cret', headers: { 'x-team': 'data' } }).apply(a, signal());
    assert.equal(outcome.ok, true);
    assert.equal(outcome.capacity, 4);
    assert.equal(outcome.attempts, 1);
    assert.deepEqual(outcome.detail, { applied: true, capacity: 4 });
    assert.equal(s.seen.length, 1);
    assert.deepEqual(s.seen[0].body, a);
    assert.equal(s.seen[0].headers['idempotency-key'], a.idempotencyKey);
    assert.equal(s.seen[0].headers.authorization, 'Bearer s3cret');
    assert.equal(s.seen[0].headers['x-team'], 'data');
    assert.equal(s.seen[0].headers['x-shadowplane-phase'], 'apply');
    assert.equal(s.seen[0].headers['content-type'], 'application/json');
  } finally {
    await s.close();
  }
});

test('a 500 is retried with the same idempotency key and the later success is the outcome', async () => {
  const s = await server([text(500, 'database locked'), text(503, 'still busy'), json(200, { applied: true })]);
  try {
    const outcome = await webhook(s.url, { retries: 2 }).apply(action(), signal());
    assert.equal(outcome.ok, true);
    assert.equal(outcome.attempts, 3);
    assert.equal(s.seen.length, 3);
    assert.equal(new Set(s.seen.map((x) => x.headers['idempotency-key'])).size, 1);
  } finally {
    await s.close();
  }
});

test('retries are bounded: the last 5xx is a retryable failure naming the status and body', async () => {
  const s = await server([text(502, 'bad gateway from upstream')]);
  try {
    const outcome = await webhook(s.url, { retries: 1 }).apply(action(), signal());
    assert.equal(outcome.ok, false);
    assert.equal(outcome.retryable, true);
    assert.equal(s.seen.length, 2);
    assert.match(outcome.reason, /^HTTP 502 Bad Gateway: bad gateway from upstream$/);
  } finally {
    await s.close();
  }
});

test('a 4xx is not retried; 429 is', async () => {
  const s = await server([json(422, { error: 'to exceeds quota' })]);
  try {
    const outcome = await webhook(s.url, { retries: 3 }).apply(action(), signal());
    assert.equal(outcome.ok, false);
    assert.equal(outcome.retryable, false);
    assert.equal(s.seen.length, 1);
    assert.match(outcome.reason, /HTTP 422 Unprocessable Entity: \{"error":"to exceeds quota"\}/);
  } finally {
    await s.close();
  }
  const limited = await server([text(429, 'slow down'), json(201, { applied: true })]);
  try {
    const outcome = await webhook(limited.url, { retries: 1 }).apply(action(), signal());
    assert.equal(outcome.ok, true);
    assert.equal(limited.seen.length, 2);
  } finally {
    await limited.close();
  }
});

test('a server that does not answer times out, and the timeout is retried', async () => {
  const s = await server([() => {}]);
  try {
    const outcome = await webhook(s.url, { timeoutMs: 150, retries: 1 }).apply(action(), signal());
    assert.equal(outcome.ok, false);
    assert.equal(outcome.retryable, true);
    assert.equal(s.seen.length, 2);
    assert.match(outcome.reason, /timed out after 150 ms waiting for http:\/\/127\.0\.0\.1:\d+\/scale/);
  } finally {
    await s.close();
  }
});

test('connection refused is a retryable network failure naming the error', async () => {
  const s = await server([json(200, {})]);
  await s.close();
  const outcome = await webhook(s.url, { retries: 1 }).apply(action(), signal());
  assert.equal(outcome.ok, false);
  assert.equal(outcome.retryable, true);
  assert.equal(outcome.attempts, 2);
  assert.match(outcome.reason, /cannot reach http:\/\/127\.0\.0\.1:\d+\/scale: ECONNREFUSED/);
});

test('malformed answers fail without retry: non-JSON 2xx, a JSON array, applied=false, a redirect', async () => {
  const s = await server([text(200, 'OK'), json(200, [1, 2]), json(200, { applied: false, reason: 'frozen' }), (res) => {
    res.writeHead(302, { location: 'http://127.0.0.1:1/' });
    res.end();
  }]);
  try {
    const hook = webhook(s.url, { retries: 3 });
    const reasons: string[] = [];
    for (let i = 0; i < 4; i++) {
      const outcome = await hook.apply(action(), signal());
      assert.equal(outcome.ok, false);
      assert.equal(outcome.retryable, false);
      reasons.push(outcome.reason);
    }
    assert.equal(s.seen.length, 4);
    assert.match(reasons[0], /malformed response: HTTP 200 OK body is not a JSON object: "OK"/);
    assert.match(reasons[1], /not a JSON object: "\[1,2\]"/);
    assert.equal(reasons[2], 'receiver answered applied=false: frozen');
    assert.match(reasons[3], /^HTTP 302 Found/);
  } finally {
    await s.close();
  }
});

test('an aborted signal stops the request and the backoff', async () => {
  const s = await server([() => {}]);
  try {
    const controller = new AbortController();
    const pending = webhook(s.url, { timeoutMs: 5000, retries: 3 }).apply(action(), controller.signal);
    while (s.seen.length === 0) await new Promise((r) => setTimeout(r, 10));
    controller.abort(new Error('operator cancelled'));
    const outcome = await pending;
    assert.equal(outcome.ok, false);
    assert.equal(outcome.retryable, false);
    assert.equal(outcome.reason, 'cancelled: operator cancelled');
    assert.equal(s.seen.length, 1);
  } finally {
    await s.close();
  }
});

test('through the executor: a verification miss rolls back by POSTing the inverse action', async () => {
  const s = await server([json(200, { applied: true, capacity: 6 })]);
  try {
    const executor = new Executor({
      clock: realClock,
      log: recordingLog().log,
      actuatorFor: () => webhook(s.url, { rollback: true }),
      observe: async () => 2,
      settings: { verifyDeadlineMs: 200, verifyIntervalMs: 50 },
    });
    const a = action({ from: 2, to: 6 });
    const sub = executor.submit(a);
    assert.ok(sub.accepted);
    const done = await sub.done;
    assert.equal(done.state, 'rolled-back');
    assert.deepEqual(done.transitions.map((t) => t.to), ['pending', 'running', 'verifying', 'rolling-back', 'rolled-back']);
    assert.equal(s.seen.length, 2);
    const undo = s.seen[1];
    assert.equal(undo.headers['x-shadowplane-phase'], 'rollback');
    assert.equal(undo.headers['idempotency-key'], `${a.idempotencyKey}:rollback`);
    assert.deepEqual([(undo.body as { from: number }).from, (undo.body as { to: number }).to], [6, 2]);
  } finally {
    await s.close();
  }
});
