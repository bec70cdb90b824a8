/**
 * One owner per store. Two instances writing one store split its targets and overwrite each
 * other's windows (last writer wins), so:
 *
 * - A data directory is held by one process: an exclusive lock on `<dataDir>/shadowplane.lock`,
 *   taken through SQLite (a POSIX advisory lock the kernel drops when the process ends, even on
 *   `kill -9`, so there is no stale lock to clean up). A second instance is refused with the
 *   holder's pid, host and start time, read from `<dataDir>/owner.json`.
 * - A PostgreSQL store is written by the holder of its lease: a session advisory lock keyed by the
 *   schema, held on a connection of its own. Other instances run as standbys and try to take the
 *   lease every `store.postgres.leaseCheck`; PostgreSQL drops the lock when the holder's session
 *   ends (the process exits or is killed, its connection closes), and a standby takes over. The
 *   holder also records a token of its own in the schema's `owner` row, and every window write
 *   checks that row in its transaction (PostgresStore.writeWindows): a holder that lost the lease
 *   cannot write windows once a standby has taken over.
 */
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { ShadowplaneError } from '../core/errors.js';

/** Who holds a data directory or a store's lease. */
export interface Owner {
  pid: number;
  host: string;
  /** ISO-8601 time the holder started. */
  startedAt: string;
}

/** This process as an owner. */
export function thisProcess(startedAt: number): Owner {
  return { pid: process.pid, host: hostname(), startedAt: new Date(startedAt).toISOString() };
}

/** `pid 123 on host h (started 2026-...)`. */
export function describeOwner(owner: Owner | undefined): string {
  return owner ? `pid ${owner.pid} on host ${owner.host} (started ${owner.startedAt})` : 'another process (it left no owner record)';
}

/** A held data directory; release() lets another process take it. */
export interface DataDirLock {
  release(): void;
}

/** Takes the data directory for this process; SHADOWPLANE_ERR_STORE_LOCKED naming the holder when another has it. */
export function lockDataDir(dataDir: string, owner: Owner): DataDirLock {
  mkdirSync(dataDir, { recursive: true });
  const db = new Database(join(dataDir, 'shadowplane.lock'), { timeout: 0 });
  try {
    // Rollback-journal mode: an exclusive transaction locks the whole file, readers too, until it ends.
    db.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw new ShadowplaneError('SHADOWPLANE_ERR_STORE_UNAVAILABLE', `cannot lock the data directory ${dataDir}: ${(err as Error).message}`);
    throw new ShadowplaneError('SHADOWPLANE_ERR_STORE_LOCKED', `the data directory ${dataDir} is in use by ${describeOwner(readOwnerFile(dataDir))}: stop that instance first, or give this one another store.dataDir`);
  }
  const file = join(dataDir, 'owner.json');
  writeFileSync(`${file}.part`, JSON.stringify(owner) + '\n');
  renameSync(`${file}.part`, file);
  return {
    release() {
      if (db.open) db.close(); // closing ends the transaction and drops the lock
    },
  };
}

function readOwnerFile(dataDir: string): Owner | undefined {
  try {
    return JSON.parse(readFileSync(join(dataDir, 'owner.json'), 'utf8')) as Owner;
  } catch {
    return undefined;
  }
}

/** Where a PostgreSQL store lives, and who asks for its lease. */
export interface LeaseOptions {
  url: string;
  schema: string;
  owner: Owner;
  /** Called once when a held lease is lost (its connection failed or closed). */
  onLost(reason: string): void;
}

/** The lease of a PostgreSQL store's loops: a session advisory lock on a connection of its own. */
export class PostgresLease {
  /** This instance's mark in the `owner` row while it holds the lease (the write fence). */
  readonly token = randomUUID();
  private client: pg.Client | undefined;
  private held = false;
  private closing = false;

  constructor(private readonly options: LeaseOptions) {}

  /** Whether this instance holds the lease. */
  get isHeld(): boolean {
    return this.held;
  }

  /** Takes the lease if it is free; true when held. Rejects when PostgreSQL cannot be reached. */
  async tryAcquire(): Promise<boolean> {
    if (this.held) return true;
    const client = this.client ?? (await this.connect());
    const { rows } = await client.query<{ got: boolean }>('SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS got', [this.key()]);
    if (!rows[0].got) return false;
    this.held = true;
    const o = this.options.owner;
    await client.query(
      `INSERT INTO ${this.table()} (id, pid, host, started_at, token) VALUES (1, $1, $2, $3, $4)
       ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, host = excluded.host, started_at = excluded.started_at, token = excluded.token`,
      [o.pid, o.host, o.startedAt, this.token],
    );
    return true;
  }

  /** The instance holding the lease as it recorded itself (possibly a holder that has since died). */
  async holder(): Promise<Owner | undefined> {
    const client = this.client ?? (await this.connect());
    const { rows } = await client.query<{ pid: number; host: string; started_at: string }>(`SELECT pid, host, started_at FROM ${this.table()} WHERE id = 1`);
    return rows[0] && { pid: rows[0].pid, host: rows[0].host, startedAt: rows[0].started_at };
  }

  /** Gives the lease up (closing its session). */
  async release(): Promise<void> {
    this.closing = true;
    this.held = false;
    await this.client?.end().catch(() => undefined);
    this.client = undefined;
  }

  private async connect(): Promise<pg.Client> {
    const o = this.options.owner;
    const client = new pg.Client({ connectionString: this.options.url, application_name: `shadowplane pid ${o.pid}`, keepAlive: true, connectionTimeoutMillis: 5000 });
    const lost = (reason: string) => {
      if (this.client === client) this.client = undefined;
      if (!this.held || this.closing) return;
      this.held = false;
      this.options.onLost(reason);
    };
    client.on('error', (err) => lost(err.message));
    client.on('end', () => lost('the lease connection closed'));
    try {
      await client.connect();
      await client.query(`CREATE TABLE IF NOT EXISTS ${this.table()} (id INTEGER PRIMARY KEY, pid INTEGER NOT NULL, host TEXT NOT NULL, started_at TEXT NOT NULL, token TEXT NOT NULL)`);
    } catch (err) {
      await client.end().catch(() => undefined);
      throw new ShadowplaneError('SHADOWPLANE_ERR_STORE_UNAVAILABLE', `PostgreSQL (store lease): ${(err as Error).message}`);
    }
    this.client = client;
    return client;
  }

  private key(): string {
    return `shadowplane:${this.options.schema}`;
  }

  private table(): string {
    return `"${this.options.schema.replaceAll('"', '""')}".owner`;
  }
}
