/** Binary array parameters (src/store/pg-arrays.ts) read back by the real PostgreSQL exactly. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { isCoded } from '../../src/core/errors.js';
import { ByteWriter } from '../../src/store/bytes.js';
import { binaryArray } from '../../src/store/pg-arrays.js';
import { TEST_PG_URL, postgresSkipReason } from '../helpers/postgres.js';

describe('binary PostgreSQL arrays', async () => {
  const skip = await postgresSkipReason();
  let client: pg.Client;
  before(async () => {
    if (skip) return;
    client = new pg.Client({ connectionString: TEST_PG_URL });
    await client.connect();
  });
  after(async () => {
    if (!skip) await client.end();
  });

  /** The elements of `$1::type[]` as the server reads them, each sent back as text. */
  const echo = async (type: string, param: Buffer): Promise<(string | null)[]> =>
    (await client.query(`SELECT v::text AS v FROM unnest($1::${type}[]) WITH ORDINALITY AS a(v, n) ORDER BY n`, [param])).rows.map((r) => r.v as string | null);

  test('numbers, whole and not, keep their exact values', { skip }, async () => {
    const floats = [0, -0, 1.5, -2.25e-300, 1.7e308, -1.7e308, Number.NaN, Number.POSITIVE_INFINITY, Number.MIN_VALUE, 0.1 + 0.2];
    const back = (await client.query('SELECT v FROM unnest($1::float8[]) WITH ORDINALITY AS a(v, n) ORDER BY n', [binaryArray('float8', floats, 'f')])).rows.map((r) => r.v as number);
    assert.deepEqual(back, floats);
    const ints = [0, 1, -1, 2 ** 31 - 1, -(2 ** 31)];
    assert.deepEqual(await echo('int4', binaryArray('int4', ints, 'i')), ints.map(String));
    const bigs = [0, -1, 2 ** 32, -(2 ** 32) - 1, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, 1_764_720_000_000];
    assert.deepEqual(await echo('int8', binaryArray('int8', bigs, 'b')), bigs.map(String));
  });

  test('text, bytes and booleans round-trip; an empty array is empty', { skip }, async () => {
    const texts = ['', 'orders', 'élan ✓ 🚀', 'a"b\\c{d},e'];
    assert.deepEqual(await echo('text', binaryArray('text', texts, 't')), texts);
    const bytes = [Buffer.alloc(0), Buffer.from([0, 255, 1]), Buffer.alloc(3000, 7)];
    const backBytes = (await client.query('SELECT v FROM unnest($1::bytea[]) WITH ORDINALITY AS a(v, n) ORDER BY n', [binaryArray('bytea', bytes, 'p')])).rows.map((r) => r.v as Buffer);
    assert.deepEqual(backBytes.map((b) => b.toString('hex')), bytes.map((b) => b.toString('hex')));
    assert.deepEqual(await echo('bool', binaryArray('bool', [true, false], 'f')), ['true', 'false']);
    assert.deepEqual(await echo('float8', binaryArray('float8', [], 'f')), []);
  });

  test('arrays built in a reused writer read back the same, also once it grows, and a rewound writer is written over', { skip }, async () => {
    const writer = new ByteWriter();
    const texts = ['orders', 'élan ✓ 🚀', ''];
    const first = binaryArray('text', texts, 't', writer);
    assert.deepEqual(first, binaryArray('text', texts, 't'));
    // larger than the writer's buffer: it grows into a new one, the first array left as it was
    const big = Array.from({ length: 10_000 }, (_, i) => i + 0.5);
    const second = binaryArray('float8', big, 'f', writer);
    assert.deepEqual(await echo('text', first), texts);
    assert.deepEqual((await echo('float8', second)).map(Number), big);
    writer.rewind();
    const third = binaryArray('int8', [1, -2], 'i', writer);
    assert.equal(third.buffer, second.buffer, 'after a rewind the buffer is used again');
    assert.deepEqual(await echo('int8', third), ['1', '-2']);
  });

  test('a NUL in text is refused by the server as a data exception', { skip }, async () => {
    await assert.rejects(echo('text', binaryArray('text', ['a\u0000b'], 't')), (err: Error & { code?: string }) => err.code?.startsWith('22') === true && /0x00/.test(err.message));
  });

  test('an integer column given a fraction or an out-of-range number is refused, naming the field', () => {
    for (const [type, value] of [['int4', 1.5], ['int4', 2 ** 31], ['int8', Number.NaN], ['int8', 2 ** 60]] as const) {
      assert.throws(() => binaryArray(type, [1, value], 'start'), (err: Error) => isCoded(err, 'SHADOWPLANE_ERR_STORE_REJECTED') && err.message.includes('start must be'));
    }
  });
});
