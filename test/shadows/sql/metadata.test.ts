/** Metadata extraction: the hand-checked corpus, the parser's verdicts, and parameter bindings. */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { extractMetadata, initParser } from '../../../src/shadows/sql/metadata.js';
import { catalogOf, compare, corpusSchema, loadCorpus } from './corpus.js';

before(() => initParser());

test('every corpus statement yields exactly the answer key (tables, columns, written tables)', () => {
  const catalog = catalogOf(corpusSchema());
  const items = loadCorpus();
  assert.ok(items.length >= 50);
  for (const item of items) {
    const r = compare(item, extractMetadata(item.sql, catalog));
    assert.deepEqual([r.tables.fp, r.tables.fn, r.columns.fp, r.columns.fn, r.writes.fp, r.writes.fn], [[], [], [], [], [], []], item.name);
  }
});

test('without a catalog, unqualified columns of a multi-table scope stay unresolved rather than guessed', () => {
  const [m] = extractMetadata('SELECT email, total FROM users JOIN shop_orders ON user_id = users.id');
  assert.deepEqual(m.unresolved, ['email', 'total', 'user_id']);
  assert.deepEqual(m.tables.map((t) => [t.table, t.columns]), [['users', ['id']], ['shop_orders', []]]);
});

test('operations, utility statements and several statements in one text', () => {
  const metas = extractMetadata("BEGIN; UPDATE t SET a = 1 WHERE id = 2; SELECT b FROM u; SET work_mem = '64MB'; COMMIT");
  assert.deepEqual(metas.map((m) => [m.kind, m.op]), [
    ['TransactionStmt', undefined], ['UpdateStmt', 'write'], ['SelectStmt', 'read'], ['VariableSetStmt', undefined], ['TransactionStmt', undefined],
  ]);
  assert.equal(metas[1].fingerprint, 'update t set a = $1 where id = $2');
  assert.equal(extractMetadata('COPY t (a, b) FROM STDIN')[0].tables[0].op, 'write');
  assert.deepEqual(extractMetadata('COPY (SELECT a FROM t) TO STDOUT')[0].tables.map((t) => [t.table, t.op]), [['t', 'read']]);
});

test('parameters and literals are bound to the columns they are compared with or assigned to', () => {
  const [m] = extractMetadata("SELECT * FROM orders WHERE o_custkey = $1 AND o_orderdate > DATE '1995-01-01' AND 7 = o_shippriority");
  assert.equal(m.fingerprint, 'select * from orders where o_custkey = $1 and o_orderdate > date $2 and $3 = o_shippriority');
  assert.deepEqual([...m.params].sort(), [[1, { table: 'orders', column: 'o_custkey' }], [2, { table: 'orders', column: 'o_orderdate' }], [3, { table: 'orders', column: 'o_shippriority' }]]);
  const [ins] = extractMetadata("INSERT INTO users (email, name) VALUES ('x@y', $1)");
  assert.deepEqual([...ins.params].sort(), [[1, { table: 'users', column: 'name' }], [2, { table: 'users', column: 'email' }]]);
});

test('invalid SQL is rejected by the parser (the proxy forwards it untouched and counts it)', () => {
  assert.throws(() => extractMetadata('SELEC 1'), /syntax error/);
  assert.throws(() => extractMetadata("SELECT 'unterminated"), /unterminated/);
});
