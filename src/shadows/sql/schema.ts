/**
 * Creating a shadow database from a primary: the schema with `pg_dump --schema-only`
 * (pre-data, then post-data), a TABLESAMPLE BERNOULLI sample of each table's rows copied with
 * COPY through psql, then VACUUM ANALYZE. Foreign keys are left out of the shadow: a row sample cannot
 * satisfy them, and the shadow's job is to measure load, not to enforce integrity.
 */
import { spawn } from 'node:child_process';
import pg from 'pg';
import { parseSync } from 'libpg-query';
import { initParser } from './metadata.js';

/** What createShadow did. */
export interface ShadowCreation {
  tables: { table: string; rows: number }[];
  /** Foreign-key constraints not created in the shadow. */
  skippedForeignKeys: number;
}

/**
 * Copies `primaryUrl`'s schema and a `fraction` (0..1] of each table's rows into `shadowUrl`,
 * which must exist and be empty. Rejects with the failing tool's stderr when pg_dump or psql fails.
 */
export async function createShadow(primaryUrl: string, shadowUrl: string, fraction: number): Promise<ShadowCreation> {
  if (!(fraction > 0 && fraction <= 1)) throw new RangeError('fraction must be in (0, 1]');
  await initParser();
  const pre = await run('pg_dump', ['--schema-only', '--no-owner', '--no-privileges', '--section=pre-data', '-d', primaryUrl]);
  await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', shadowUrl], pre);
  const primary = new pg.Client({ connectionString: primaryUrl });
  await primary.connect();
  const tables: { table: string; rows: number }[] = [];
  try {
    const r = await primary.query(
      `SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables
       WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
    );
    for (const { t } of r.rows as { t: string }[]) {
      const out = await run('psql', ['-X', '-q', '-d', primaryUrl, '-c',
        `COPY (SELECT * FROM ${t} TABLESAMPLE BERNOULLI (${fraction * 100})) TO STDOUT`]);
      await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', shadowUrl, '-c', `COPY ${t} FROM STDIN`], out);
      tables.push({ table: t, rows: countLines(out) });
    }
  } finally {
    await primary.end();
  }
  const post = (await run('pg_dump', ['--schema-only', '--no-owner', '--no-privileges', '--section=post-data', '-d', primaryUrl])).toString('utf8');
  const { sql, skipped } = withoutForeignKeys(post);
  await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', shadowUrl], Buffer.from(sql));
  // VACUUM too: freshly copied pages have no hint bits or visibility map, which a primary's long-lived
  // pages have, and the first reads of the measurement would pay for setting them.
  await run('psql', ['-X', '-q', '-d', shadowUrl, '-c', 'VACUUM ANALYZE']);
  return { tables, skippedForeignKeys: skipped };
}

/** The part of a parsed top-level statement that tells a foreign key constraint apart. */
interface TopStatement {
  AlterTableStmt?: { cmds?: { AlterTableCmd?: { def?: { Constraint?: { contype?: string } } } }[] };
}

/** Removes `ALTER TABLE ... ADD CONSTRAINT ... FOREIGN KEY` statements from a SQL script (parser-based). */
export function withoutForeignKeys(dump: string): { sql: string; skipped: number } {
  // psql meta-commands (pg_dump's restrict guard) are not SQL; they are not needed to apply the script.
  const script = dump.split('\n').filter((l) => !l.startsWith('\\')).join('\n');
  const tree = parseSync(script) as { stmts?: { stmt: TopStatement; stmt_location?: number; stmt_len?: number }[] };
  const kept: string[] = [];
  let skipped = 0;
  for (const s of tree.stmts ?? []) {
    const loc = s.stmt_location ?? 0;
    const text = s.stmt_len ? script.slice(loc, loc + s.stmt_len) : script.slice(loc);
    const cmds = s.stmt.AlterTableStmt?.cmds ?? [];
    const fk = cmds.some((c) => c.AlterTableCmd?.def?.Constraint?.contype === 'CONSTR_FOREIGN');
    if (fk) skipped++;
    else kept.push(text.trim());
  }
  return { sql: kept.filter((t) => t.length > 0).map((t) => `${t};\n`).join(''), skipped };
}

function countLines(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, i + 1)) n++;
  return n;
}

/** Runs a tool with optional stdin; resolves with its stdout, rejects with its stderr. */
function run(cmd: string, args: string[], input?: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => err.push(d));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`${cmd} exited with ${code}: ${Buffer.concat(err).toString('utf8').trim()}`));
    });
    p.stdin.end(input ?? Buffer.alloc(0));
  });
}
