/**
 * Access to the real PostgreSQL for integration tests. The URL comes from SHADOWPLANE_TEST_PG_URL
 * (default postgres://postgres@127.0.0.1:5432/test). Outside CI an unreachable server skips the suite with
 * a reason; with CI=true it fails, so a missing service can never pass silently.
 */
import pg from 'pg';
import { PostgresStore } from '../../src/store/postgres.js';

/** The URL of the test database. */
export const TEST_PG_URL = process.env.SHADOWPLANE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * Resolves to undefined when PostgreSQL answers, or to a skip reason when it does not (outside CI);
 * throws under CI=true.
 */
export async function postgresSkipReason(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: TEST_PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (err) {
    const reason = `PostgreSQL at ${TEST_PG_URL} is unreachable: ${(err as Error).message}`;
    if (process.env.CI === 'true') throw new Error(`${reason} (CI=true: integration tests must run)`);
    return reason;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A schema name unique to this test process, so parallel runs never share tables. */
export function uniqueSchema(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.floor(Math.random() * 1e6)}`;
}

/** A store config for a service suite (`store` keys over the data directory), or a skip reason. */
export type StoreChoice = () => Promise<Record<string, unknown> | string>;
/** Removes what a suite's store left behind. */
export type StoreDrop = (store: Record<string, unknown>) => Promise<void>;

/**
 * Runs `suite` on both Shadow Store backends: the SQLite file (nothing to drop) and PostgreSQL in
 * a schema of its own named from `prefix` (skipped with a reason when unreachable outside CI, a
 * failure under CI=true), dropped afterwards.
 */
export function onBothStores(prefix: string, suite: (name: string, storeConfig: StoreChoice, dropStore: StoreDrop) => void): void {
  suite('SQLite', async () => ({}), async () => undefined);
  suite(
    'PostgreSQL',
    async () => (await postgresSkipReason()) ?? { backend: 'postgres', postgres: { url: TEST_PG_URL, schema: uniqueSchema(prefix) } },
    async (store) => {
      const s = new PostgresStore(store.postgres as { url: string; schema: string });
      await s.dropSchema();
      await s.close();
    },
  );
}
