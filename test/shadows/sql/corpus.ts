/**
 * The metadata-accuracy corpus (fixtures/corpus.json) and its schema (fixtures/schema.sql), shared
 * by the accuracy test and the benchmark: the catalog comes from the schema's CREATE TABLE
 * statements, read with the same parser.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseSync } from 'libpg-query';
import type { Catalog, StatementMeta } from '../../../src/shadows/sql/metadata.js';

/** One corpus statement and its hand-checked answer. */
export interface CorpusItem {
  name: string;
  sql: string;
  /** Tables written. */
  write: string[];
  /** Table → columns referenced. */
  tables: Record<string, string[]>;
}

const here = (f: string): string => fileURLToPath(new URL(`./fixtures/${f}`, import.meta.url)).replace('/dist/test/', '/test/');

/** The corpus items. */
export function loadCorpus(): CorpusItem[] {
  return (JSON.parse(readFileSync(here('corpus.json'), 'utf8')) as { items: CorpusItem[] }).items;
}

/** The schema script. */
export function corpusSchema(): string {
  return readFileSync(here('schema.sql'), 'utf8');
}

/** Column sets per table from the CREATE TABLE statements of a script (call initParser first). */
export function catalogOf(script: string): Catalog {
  const tree = parseSync(script) as { stmts: { stmt: { CreateStmt?: { relation: { relname: string }; tableElts: { ColumnDef?: { colname: string } }[] } } }[] };
  const out = new Map<string, Set<string>>();
  for (const { stmt } of tree.stmts) {
    const c = stmt.CreateStmt;
    if (!c) continue;
    const columns = c.tableElts.flatMap((e) => (e.ColumnDef ? [e.ColumnDef.colname] : []));
    out.set(c.relation.relname, new Set(columns));
  }
  return out;
}

/** Found vs expected pairs: `table` and `table.column` sets of one statement. */
export function compare(item: CorpusItem, metas: readonly StatementMeta[]): { tables: Score; columns: Score; writes: Score } {
  const found = new Map<string, Set<string>>();
  const writes = new Set<string>();
  for (const m of metas) for (const t of m.tables) {
    if (!found.has(t.table)) found.set(t.table, new Set());
    for (const c of t.columns) found.get(t.table)!.add(c);
    if (t.op === 'write') writes.add(t.table);
  }
  const expT = new Set(Object.keys(item.tables));
  const expC = new Set(Object.entries(item.tables).flatMap(([t, cs]) => cs.map((c) => `${t}.${c}`)));
  const gotC = new Set([...found].flatMap(([t, cs]) => [...cs].map((c) => `${t}.${c}`)));
  return { tables: score(new Set(found.keys()), expT), columns: score(gotC, expC), writes: score(writes, new Set(item.write)) };
}

/** True/false positives and false negatives with the names involved. */
export interface Score { tp: number; fp: string[]; fn: string[] }

function score(got: Set<string>, expected: Set<string>): Score {
  return {
    tp: [...got].filter((x) => expected.has(x)).length,
    fp: [...got].filter((x) => !expected.has(x)),
    fn: [...expected].filter((x) => !got.has(x)),
  };
}
