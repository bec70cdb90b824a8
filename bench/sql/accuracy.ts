/**
 * Metadata-extraction accuracy on the corpus in test/shadows/sql/fixtures (pgbench's statements,
 * TPC-H's 22 queries, joins, CTEs, subqueries, window functions, DML with RETURNING) against its
 * hand-checked answer key: precision and recall of tables, `table.column` pairs and written
 * tables, with the column catalog (as pg-proxy loads it from the server) and without. Every
 * statement is first checked to be valid on the real server (EXPLAIN in a scratch database).
 *
 *   npx tsx bench/sql/accuracy.ts
 */
import pg from 'pg';
import { extractMetadata, initParser, type Catalog } from '../../src/shadows/sql/metadata.js';
import { catalogOf, compare, corpusSchema, loadCorpus, type Score } from '../../test/shadows/sql/corpus.js';

const DB = 'sp_sql_test_corpus';

async function validateOnServer(): Promise<number> {
  const admin = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${DB}`);
  const c = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:5432/${DB}` });
  await c.connect();
  let ok = 0;
  try {
    await c.query(corpusSchema());
    for (const item of loadCorpus()) {
      // PREPARE parses, analyses and plans without executing (and accepts $n parameters).
      try {
        await c.query(`PREPARE sp_check AS ${item.sql.replace(/;\s*$/, '')}`);
        await c.query('DEALLOCATE sp_check');
        ok++;
      } catch (err) { console.error(`${item.name}: ${(err as Error).message}`); }
    }
  } finally {
    await c.end();
    await admin.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
    await admin.end();
  }
  return ok;
}

function totals(catalog: Catalog | undefined): Record<string, { precision: number; recall: number; tp: number; fp: number; fn: number }> {
  const sum: Record<'tables' | 'columns' | 'writes', { tp: number; fp: number; fn: number }> = {
    tables: { tp: 0, fp: 0, fn: 0 }, columns: { tp: 0, fp: 0, fn: 0 }, writes: { tp: 0, fp: 0, fn: 0 },
  };
  const misses: string[] = [];
  for (const item of loadCorpus()) {
    const r = compare(item, extractMetadata(item.sql, catalog));
    for (const k of ['tables', 'columns', 'writes'] as const) {
      const s: Score = r[k];
      sum[k].tp += s.tp; sum[k].fp += s.fp.length; sum[k].fn += s.fn.length;
      if (s.fp.length + s.fn.length > 0) misses.push(`${item.name} ${k}: +${s.fp.join(',')} -${s.fn.join(',')}`);
    }
  }
  if (misses.length) console.error(`${catalog ? 'with' : 'without'} catalog, differences:\n  ${misses.join('\n  ')}`);
  const out: Record<string, { precision: number; recall: number; tp: number; fp: number; fn: number }> = {};
  for (const [k, v] of Object.entries(sum)) out[k] = { ...v, precision: v.tp / (v.tp + v.fp || 1), recall: v.tp / (v.tp + v.fn || 1) };
  return out;
}

async function main(): Promise<void> {
  await initParser();
  const items = loadCorpus();
  const valid = await validateOnServer();
  const catalog = catalogOf(corpusSchema());
  const withCatalog = totals(catalog);
  const withoutCatalog = totals(undefined);
  const times: number[] = [];
  for (let r = 0; r < 20; r++) for (const item of items) {
    const t0 = performance.now();
    extractMetadata(item.sql, catalog);
    times.push((performance.now() - t0) * 1000);
  }
  times.sort((a, b) => a - b);
  const result = {
    statements: items.length, validOnServer: valid, withCatalog, withoutCatalog,
    parseMicrosMedian: Math.round(times[times.length >> 1]), parseMicrosP95: Math.round(times[Math.floor(times.length * 0.95)]),
  };
  process.stdout.write(JSON.stringify(result, null, 1) + '\n');
}

main().catch((err) => { console.error(err); process.exitCode = 1; });
