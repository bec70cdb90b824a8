/** Normalisation: no literal survives, whatever its form; identifiers and parameters do. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { normalise } from '../../../src/shadows/sql/normalize.js';

test('each literal form becomes a numbered parameter and comments disappear', () => {
  const sql = "SELECT \"Name\" FROM t -- note 1\nWHERE a = 'it''s' AND b = E'x\\'y' AND c = $$z$$ AND d = $tag$w$tag$ AND e = $1 "
    + "AND f IN (1.5, -2e10, .5, 0x1F) AND g = B'1010' AND h = X'ff' /* 77 /* nested */ */ AND i = U&'d\\0061'";
  const n = normalise(sql);
  assert.equal(n.fingerprint,
    'select "Name" from t where a = $2 and b = $3 and c = $4 and d = $5 and e = $1 and f in ($6, $7, $8, $9) and g = $10 and h = $11 and i = $12');
  assert.equal(n.maxParam, 1);
  assert.equal(n.literals.length, 11);
  assert.equal(sql.slice(n.literals[0].start, n.literals[0].end), "'it''s'");
});

test('an unterminated string or comment still yields no value', () => {
  assert.equal(normalise("SELECT 'abc").fingerprint, 'select $1');
  assert.equal(normalise('SELECT 1 /* secret 42').fingerprint, 'select $1');
  for (const open of ["SELECT 'abc", "SELECT E'a\\'", 'SELECT 1 /* secret 42', 'SELECT $$body', 'SELECT "col']) {
    assert.equal(normalise(open).complete, false, open);
  }
  for (const closed of ["SELECT 'a''b'", "SELECT E'a\\''", 'SELECT 1 /* a /* b */ */', 'SELECT $t$ x $t$', 'SELECT "c""d"']) {
    assert.equal(normalise(closed).complete, true, closed);
  }
});

test('property: no string or number literal value appears in the fingerprint', () => {
  const word = fc.stringMatching(/^[A-Za-z0-9 _@.%'\\-]{3,20}$/).filter((s) => /[A-Za-z0-9]{3}/.test(s));
  fc.assert(fc.property(word, fc.integer({ min: 100, max: 1e9 }), fc.double({ min: 1, max: 1e6, noNaN: true }), (s, i, d) => {
    const quoted = `'${s.replace(/'/g, "''")}'`;
    const dollar = `$q$${s}$q$`;
    const sql = `UPDATE accounts SET note = ${quoted}, alt = ${dollar}, n = ${i}, x = ${d} WHERE id = ${i + 1}`;
    const fp = normalise(sql).fingerprint;
    assert.equal(fp, 'update accounts set note = $1, alt = $2, n = $3, x = $4 where id = $5');
  }), { numRuns: 300 });
});

test('a unary minus is part of the constant; a binary minus is not', () => {
  assert.equal(normalise('UPDATE t SET b = b + -2371 WHERE aid = -5').fingerprint, 'update t set b = b + $1 where aid = $2');
  assert.equal(normalise('SELECT a-1, a - -1, f(-2) FROM t').fingerprint, 'select a-$1, a - $2, f($3) from t');
});
