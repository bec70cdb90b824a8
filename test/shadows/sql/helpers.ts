/**
 * Test helpers for the SQL shadow: scratch databases on the local PostgreSQL (127.0.0.1:5432,
 * trust auth), a throw-away cluster with md5 and SCRAM in its pg_hba for authentication relays,
 * and a check that fails (never skips) under CI when PostgreSQL is missing.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const exec = promisify(execFile);

export const PG_HOST = '127.0.0.1';
export const PG_PORT = 5432;
export const pgUrl = (db: string, user = 'postgres', port = PG_PORT): string => `postgres://${user}@${PG_HOST}:${port}/${db}`;

/**
 * Waits (up to 5 s, returning as soon as `done`) for a counter the proxy updates on its own time: a
 * close seen later, or a finished query the native engine hands over from its own thread after the
 * client has its reply and that is then parsed in a later turn. One second was too little on a
 * loaded machine: the statement of a new fingerprint is parsed before its event counts.
 */
export async function settled(done: () => boolean): Promise<void> {
  for (let i = 0; i < 250 && !done(); i++) await new Promise((r) => setTimeout(r, 20));
}

/** The reason given when PostgreSQL is unreachable outside CI. */
export const PG_SKIP = `PostgreSQL at ${PG_HOST}:${PG_PORT} is unreachable (outside CI; CI=true fails instead)`;

/** Whether the local server answers; under CI a missing server throws so the test fails. */
export async function postgresAvailable(): Promise<boolean> {
  const c = new pg.Client({ connectionString: pgUrl('postgres'), connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    return true;
  } catch (err) {
    if (process.env.CI === 'true') throw new Error(`PostgreSQL at ${PG_HOST}:${PG_PORT} is required under CI: ${(err as Error).message}`);
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** (Re)creates an empty database `name` (must start with sp_sql_test_). */
export async function freshDatabase(name: string): Promise<string> {
  if (!name.startsWith('sp_sql_test_')) throw new Error('test databases must be named sp_sql_test_*');
  const c = new pg.Client({ connectionString: pgUrl('postgres') });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${name}`);
  } finally {
    await c.end();
  }
  return pgUrl(name);
}

/** Drops a test database created by freshDatabase. */
export async function dropDatabase(name: string): Promise<void> {
  const c = new pg.Client({ connectionString: pgUrl('postgres') });
  await c.connect();
  try { await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`); } finally { await c.end(); }
}

/** Runs pgbench -i at scale `scale` on `db`. */
export async function pgbenchInit(db: string, scale = 1): Promise<void> {
  await exec('pgbench', ['-i', '-q', '-s', String(scale), '-h', PG_HOST, '-p', String(PG_PORT), '-U', 'postgres', db]);
}

/** A private cluster whose pg_hba asks md5 of role `md5user` and SCRAM of `scramuser`. */
export interface AuthCluster {
  port: number;
  stop(): Promise<void>;
}

/**
 * Creates and starts a throw-away cluster (initdb in a temp dir, run as the postgres OS user)
 * with password roles md5user/pw-md5 and scramuser/pw-scram. Rejects if initdb or pg_ctl fail.
 */
export async function startAuthCluster(): Promise<AuthCluster> {
  const bin = '/usr/lib/postgresql/15/bin';
  const dir = await mkdtemp(join(tmpdir(), 'sp-sql-auth-'));
  await chmod(dir, 0o777);
  const data = join(dir, 'data');
  const port = 20000 + Math.floor(Math.random() * 20000);
  const asPostgres = (cmd: string, args: string[]): Promise<unknown> => exec('runuser', ['-u', 'postgres', '--', cmd, ...args]);
  await asPostgres(`${bin}/initdb`, ['-D', data, '-A', 'trust', '--no-sync', '-U', 'postgres']);
  const hba = [
    'local all all trust',
    'host all md5user 127.0.0.1/32 md5',
    'host all all 127.0.0.1/32 scram-sha-256',
  ].join('\n') + '\n';
  await writeFile(join(data, 'pg_hba.conf'), hba);
  await exec('chown', ['postgres', join(data, 'pg_hba.conf')]);
  await asPostgres(`${bin}/pg_ctl`, ['-D', data, '-w', '-l', join(dir, 'log'), '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
  const sql = "SET password_encryption = 'md5'; CREATE ROLE md5user LOGIN PASSWORD 'pw-md5'; "
    + "SET password_encryption = 'scram-sha-256'; CREATE ROLE scramuser LOGIN PASSWORD 'pw-scram';";
  await asPostgres('psql', ['-X', '-q', '-h', dir, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-c', sql]);
  return {
    port,
    async stop() {
      await asPostgres(`${bin}/pg_ctl`, ['-D', data, '-m', 'immediate', 'stop']).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
