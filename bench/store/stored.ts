/**
 * What the store benches share: their `--backend`/`--targets`/`--days` flags, and the windows a
 * Shadow Store holds with the bytes they take. SQLite
 * counts the pages of the windows and series tables and their indexes (dbstat), PostgreSQL
 * `pg_total_relation_size` of both and of `open_windows` (dead tuples included).
 */
import Database from 'better-sqlite3';
import pg from 'pg';
import { parseArgs } from 'node:util';

/** The flags of a store bench over days of generated history: which backends, how many targets, how many days. */
export interface HistoryArgs {
  backends: ('sqlite' | 'postgres')[];
  targets: number;
  days: number;
  /** PostgreSQL's URL: SHADOWPLANE_PG_URL, else the local `test` database. */
  pgUrl: string;
}

/** Reads `--backend both|sqlite|postgres` (default both), `--targets N` (10) and `--days D` (7); throws naming a bad one. */
export function historyArgs(): HistoryArgs {
  const { values: args } = parseArgs({
    options: {
      backend: { type: 'string', default: 'both' },
      targets: { type: 'string', default: '10' },
      days: { type: 'string', default: '7' },
    },
  });
  const backends = args.backend === 'both' ? ['sqlite', 'postgres'] : [args.backend!];
  for (const b of backends) if (b !== 'sqlite' && b !== 'postgres') throw new Error(`--backend must be both, sqlite or postgres, not ${b}`);
  const targets = Number(args.targets);
  const days = Number(args.days);
  if (!(Number.isInteger(targets) && targets > 0)) throw new Error(`--targets must be a positive integer, not ${args.targets}`);
  if (!(days > 0)) throw new Error(`--days must be positive, not ${args.days}`);
  return { backends: backends as HistoryArgs['backends'], targets, days, pgUrl: process.env.SHADOWPLANE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test' };
}

/** Windows stored and the bytes their tables and indexes take (`file`: the SQLite database; `schema`: PostgreSQL's). */
export async function storedSize(backend: string, file: string, pgUrl: string, schema: string): Promise<{ windows: number; bytes: number }> {
  if (backend === 'sqlite') {
    const db = new Database(file, { readonly: true });
    try {
      const windows = (db.prepare('SELECT COUNT(*) AS n FROM windows').get() as { n: number }).n;
      const bytes = (db.prepare("SELECT SUM(pgsize) AS n FROM dbstat WHERE name IN ('windows', 'series') OR name IN (SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('windows', 'series'))").get() as { n: number }).n;
      return { windows, bytes };
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: pgUrl });
  await client.connect();
  try {
    // Open windows have a table of their own since schema version 5.
    const open = (await client.query(`SELECT to_regclass('"${schema}".open_windows') IS NOT NULL AS split`)).rows[0].split as boolean;
    const tables = ['windows', 'series', ...(open ? ['open_windows'] : [])];
    const { rows } = await client.query(
      `SELECT (SELECT COUNT(*) FROM "${schema}".windows)${open ? ` + (SELECT COUNT(*) FROM "${schema}".open_windows)` : ''} AS n,
        ${tables.map((t) => `COALESCE(pg_total_relation_size(to_regclass('"${schema}".${t}')), 0)`).join(' + ')} AS bytes`,
    );
    return { windows: Number(rows[0].n), bytes: Number(rows[0].bytes) };
  } finally {
    await client.end();
  }
}

/** Drops a bench run's PostgreSQL schema (never throws: a failed drop leaves a schema to clean by hand). */
export async function dropSchema(pgUrl: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: pgUrl });
  try {
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } catch {
    // best effort
  } finally {
    await client.end().catch(() => undefined);
  }
}
