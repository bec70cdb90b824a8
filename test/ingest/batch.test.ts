import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_ITEM_BYTES, forEachSliced, nextTurn, parseBatch, type RawBatch } from '../../src/ingest/batch.js';

const wide = { maxItems: 1e7, parseTimeoutMs: 600_000 };
const json = (text: string): RawBatch => ({ format: 'json', bytes: Buffer.from(text) });
const ndjson = (text: string): RawBatch => ({ format: 'ndjson', bytes: Buffer.from(text) });

describe('parseBatch', () => {
  test('a JSON array cut into pieces gives the elements JSON.parse gives, strings with brackets, commas and escapes included', async () => {
    const tricky = ['a,b', 'x]y', '{"no":1}', 'quote \\" and ] ,', 'back\\\\', 'é€😀', '[', '}'];
    const elements: unknown[] = [];
    for (let i = 0; i < 20_000; i++) {
      elements.push({ i, s: tricky[i % tricky.length], nested: [[i, { a: [tricky[(i + 1) % tricky.length]] }]], n: i % 3 ? null : -1.5e3 });
    }
    elements.push('tail', 7, true, null, []);
    const text = ` \n[ ${elements.map((e) => JSON.stringify(e)).join(' ,\n')} ]\n `;
    assert.ok(text.length > 10 * 64 * 1024, 'the body spans many pieces');
    assert.deepEqual(await parseBatch(json(text), wide), JSON.parse(text));
  });

  test('a JSON value that is not an array is one item; [] is none', async () => {
    assert.deepEqual(await parseBatch(json('{"a":[1,2]}'), wide), [{ a: [1, 2] }]);
    assert.deepEqual(await parseBatch(json('42'), wide), [42]);
    assert.deepEqual(await parseBatch(json(' [ ] '), wide), []);
  });

  test('JSON that is not JSON refuses the whole body with 400 naming the body', async () => {
    for (const bad of ['[{},]', '[,{}]', '[1 2]', '[{"a":1}', '[1] x', '{"a":', '[{"a":"]"}']) {
      await assert.rejects(parseBatch(json(bad), wide), (err: { code: string; problems: { path: string }[] }) => {
        assert.equal(err.code, 'SHADOWPLANE_ERR_VALIDATION', bad);
        assert.equal(err.problems[0].path, '/body');
        return true;
      });
    }
    // A trailing comma that falls exactly where a piece is cut is refused as well.
    const filler = JSON.stringify('x'.repeat(64 * 1024));
    await assert.rejects(parseBatch(json(`[${filler},]`), wide), { code: 'SHADOWPLANE_ERR_VALIDATION' });
  });

  test('NDJSON lines that are not JSON, or longer than MAX_ITEM_BYTES, become Errors in their place', async () => {
    const long = JSON.stringify({ pad: 'x'.repeat(MAX_ITEM_BYTES) });
    const items = await parseBatch(ndjson(`{"a":1}\n{oops\n\n${long}\n[2]\n`), wide);
    assert.equal(items.length, 4);
    assert.deepEqual(items[0], { a: 1 });
    assert.ok(items[1] instanceof Error);
    assert.match((items[2] as Error).message, /longer than 1048576 bytes/);
    assert.deepEqual(items[3], [2]);
  });

  test('more items than maxItems are refused with 413 naming server.maxItemsPerBatch, in either framing', async () => {
    const lines = '{}\n'.repeat(1001);
    for (const body of [ndjson(lines), json(`[${lines.trim().split('\n').join(',')}]`)]) {
      await assert.rejects(parseBatch(body, { maxItems: 1000, parseTimeoutMs: 600_000 }), (err: { code: string; message: string }) => {
        assert.equal(err.code, 'SHADOWPLANE_ERR_PAYLOAD_TOO_LARGE');
        assert.match(err.message, /server\.maxItemsPerBatch \(1000\)/);
        return true;
      });
    }
    assert.equal((await parseBatch(ndjson('{}\n'.repeat(1000)), { maxItems: 1000, parseTimeoutMs: 600_000 })).length, 1000);
  });

  test('a body that takes longer than parseTimeoutMs to parse is refused with 413 naming server.parseTimeout', async () => {
    const body = ndjson('{"a":[1,2,3],"b":"xyz"}\n'.repeat(200_000));
    await assert.rejects(parseBatch(body, { maxItems: 1e7, parseTimeoutMs: 1 }), (err: { code: string; message: string }) => {
      assert.equal(err.code, 'SHADOWPLANE_ERR_PAYLOAD_TOO_LARGE');
      assert.match(err.message, /server\.parseTimeout/);
      return true;
    });
  });

  test('a large body is parsed across turns of the event loop, not in one', async () => {
    let done = false;
    const parsing = parseBatch(ndjson('{}\n'.repeat(100_000)), wide).then(() => {
      done = true;
    });
    await nextTurn();
    assert.equal(done, false, 'other callbacks ran while the body was being parsed');
    await parsing;
    assert.equal(done, true);
  });

  test('forEachSliced visits every item in order and gives the event loop turns while the work lasts', async () => {
    const seen: number[] = [];
    let turns = 0;
    let done = false;
    const tick = (): void => {
      if (done) return;
      turns++;
      setImmediate(tick);
    };
    setImmediate(tick);
    // Work that takes well over one slice (10 ms) in all.
    await forEachSliced(Array.from({ length: 5000 }, (_, i) => i), (item, index) => {
      assert.equal(item, index);
      seen.push(item);
      const until = performance.now() + 0.01;
      while (performance.now() < until);
    });
    done = true;
    assert.equal(seen.length, 5000);
    assert.ok(turns > 0, 'other callbacks ran during the work');
  });
});
