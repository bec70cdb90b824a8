import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { ComparisonStats, IgnoreRules, compareResponses, diffJson, judge, type CapturedResponse } from '../../../src/shadows/traffic/compare.js';
import { request, startProxy, until, upstream } from './helpers.js';
import { seriesValue } from '../../../src/shadows/traffic/stats.js';

const none = new IgnoreRules([]);
const jsonAnswer = (body: unknown, status = 200): CapturedResponse => ({ status, headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify(body)) });

describe('structural JSON diff', () => {
  test('reports missing, extra, type and value differences by JSON pointer', () => {
    const d = diffJson({ a: 1, b: { c: 'x', d: [1, 2, 3] }, e: null, 'k/~': 1 }, { a: 2, b: { c: 5, d: [1, 2] }, f: true, 'k/~': 1, e: null }, none);
    assert.deepEqual(d, [
      { path: '/a', kind: 'value' },
      { path: '/b/c', kind: 'type' },
      { path: '/b/d/2', kind: 'missing' },
      { path: '/f', kind: 'extra' },
    ]);
  });

  test('escapes keys per RFC 6901 and compares top-level scalars', () => {
    assert.deepEqual(diffJson({ 'a/b': 1 }, { 'a/b': 2 }, none), [{ path: '/a~1b', kind: 'value' }]);
    assert.deepEqual(diffJson(1, '1', none), [{ path: '/', kind: 'type' }]);
    assert.deepEqual(diffJson([], [], none), []);
  });

  test('ignore rules: exact pointers cover subtrees, * one segment, ** any depth', () => {
    const a = { meta: { ts: 1, host: 'a' }, items: [{ id: 1, v: 1, updatedAt: 1 }, { id: 2, v: 2, updatedAt: 2 }], deep: { x: { updatedAt: 1 } } };
    const b = { meta: { ts: 2, host: 'b' }, items: [{ id: 9, v: 1, updatedAt: 5 }, { id: 8, v: 3, updatedAt: 6 }], deep: { x: { updatedAt: 2 } } };
    const rules = new IgnoreRules(['/meta', '/items/*/id', '/**/updatedAt']);
    assert.deepEqual(diffJson(a, b, rules), [{ path: '/items/1/v', kind: 'value' }]);
    assert.equal(rules.ignores('/metadata'), false);
    assert.equal(rules.ignores('/updatedAt'), true);
    assert.equal(rules.ignores('/a/b/updatedAtX'), false);
  });

  test('caps the difference list', () => {
    const a = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, i]));
    assert.equal(diffJson(a, {}, none, 50).length, 50);
  });
});

describe('response comparison and noise cancellation', () => {
  test('status, selected headers, non-JSON bodies', () => {
    const a: CapturedResponse = { status: 200, headers: { 'content-type': 'text/plain', etag: '1' }, body: Buffer.from('a') };
    const b: CapturedResponse = { status: 201, headers: { 'content-type': 'text/plain', etag: '2' }, body: Buffer.from('b') };
    assert.deepEqual(compareResponses(a, b, ['Content-Type', 'etag'], none), [
      { path: 'status', kind: 'status' },
      { path: 'header:etag', kind: 'header' },
      { path: 'body', kind: 'body' },
    ]);
    assert.deepEqual(compareResponses(a, { ...b, body: undefined, status: 200, headers: a.headers }, ['etag'], none), []);
  });

  test('malformed JSON falls back to a byte comparison', () => {
    const a = { status: 200, headers: { 'content-type': 'application/json' }, body: Buffer.from('{bad') };
    assert.deepEqual(compareResponses(a, { ...a, body: Buffer.from('{worse') }, [], none), [{ path: 'body', kind: 'body' }]);
  });

  test('differences also seen between the two primaries are noise', () => {
    const v = judge([{ path: '/ts', kind: 'value' }, { path: '/price', kind: 'value' }], [{ path: '/ts', kind: 'value' }]);
    assert.equal(v.result, 'mismatch');
    assert.deepEqual(v.regressions, [{ path: '/price', kind: 'value' }]);
    assert.deepEqual(v.noise, [{ path: '/ts', kind: 'value' }]);
    assert.equal(judge([{ path: '/ts', kind: 'value' }], [{ path: '/ts', kind: 'value' }]).result, 'noise');
    assert.equal(judge([], undefined).result, 'match');
  });

  test('statistics keep paths and kinds, never values', () => {
    const s = new ComparisonStats();
    s.add(judge(compareResponses(jsonAnswer({ card: '4111-secret' }), jsonAnswer({ card: '5500-secret' }), [], none), undefined));
    s.add(judge([], undefined));
    const sum = s.summary();
    assert.equal(sum.mismatchRate, 0.5);
    assert.deepEqual(sum.examples, [{ path: '/card', kind: 'value', count: 1 }]);
    assert.doesNotMatch(JSON.stringify(sum), /secret/);
  });
});

describe('comparison through the proxy with a secondary primary', () => {
  test('a timestamp that differs between primaries is noise; a changed price is a regression', async () => {
    let tick = 0;
    const body = (price: number) => (_s: unknown, res: http.ServerResponse) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ ts: tick++, price, sku: 'a' }));
    };
    const primary = await upstream(body(10));
    const secondary = await upstream(body(10));
    const shadow = await upstream(body(12));
    const { proxy, url } = await startProxy({
      routes: [{ name: 'r', primary: primary.origin, shadow: shadow.origin, secondary: secondary.origin, mirror: { fraction: 1 }, compare: { ignore: ['/sku'] } }],
    });
    for (let i = 0; i < 3; i++) assert.equal((await request(`${url}/p`)).status, 200);
    const r = proxy.route('r')!;
    await until(() => r.comparison.summary().compared === 3, 5000, 'comparisons');
    const s = r.comparison.summary();
    assert.equal(s.mismatches, 3);
    assert.deepEqual(s.examples, [{ path: '/price', kind: 'value', count: 3 }]);
    assert.equal(secondary.seen.length, 3);
    assert.equal(await seriesValue(proxy.metrics.comparisons, { route: 'r', result: 'mismatch' }), 3);
    await proxy.close(0);
    await Promise.all([primary.close(), secondary.close(), shadow.close()]);
  });

  test('a failed primary answer is not a reference: the comparison is skipped and counted', async () => {
    const primary = await upstream((_s, res) => { res.statusCode = 503; res.end('down'); });
    const shadow = await upstream((_s, res) => res.end('fine'));
    const { proxy, url } = await startProxy({ routes: [{ name: 'r', primary: primary.origin, shadow: shadow.origin, mirror: { fraction: 1 } }] });
    for (let i = 0; i < 3; i++) assert.equal((await request(`${url}/p`)).status, 503);
    await until(async () => (await seriesValue(proxy.metrics.comparisons, { route: 'r', result: 'skipped_primary_error' })) === 3, 5000, 'skipped comparisons');
    assert.equal(proxy.route('r')!.comparison.summary().compared, 0);
    await proxy.close(0);
    await Promise.all([primary.close(), shadow.close()]);
  });
});
