/** PostgreSQL's table of open windows (schema version 5): rewrites stay on their page, closed windows leave it, and it is vacuumed. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import pg from 'pg';
import { PostgresStore } from '../../src/store/postgres.js';
import { Window, type WindowRow } from '../../src/store/window.js';
import { TEST_PG_URL, postgresSkipReason, uniqueSchema } from '../helpers/postgres.js';

/** One open or final window per series key 0..n-1 of target `t`, each with `requests` requests. */
function windows(n: number, final: boolean, requests: number): WindowRow[] {
  return Array.from({ length: n }, (_, k) => {
    const w = new Window(60_000, 60);
    for (let r = 0; r < requests; r++) w.addRequest(61_000 + r, 2 + r, 100 + r, 10, 1, false, 1, 1);
    return w.toRow('t', 'column', `c${k}`, final);
  });
}

/** Polls `fn` until it returns true (PostgreSQL reports table statistics about once a second). */
async function eventually(fn: () => Promise<boolean>, what: string): Promise<void> {
  for (const t0 = Date.now(); Date.now() - t0 < 20_000; await new Promise((r) => setTimeout(r, 200))) if (await fn()) return;
  assert.fail(`not within 20 s: ${what}`);
}

describe('open windows on PostgreSQL', async () => {
  const skip = await postgresSkipReason();

  test('rewrites of open windows are HOT updates; closing moves them out, and the table is vacuumed', { skip }, async () => {
    const schema = uniqueSchema('sp_open');
    const store = new PostgresStore({ url: TEST_PG_URL, schema });
    const client = new pg.Client({ connectionString: TEST_PG_URL });
    await client.connect();
    try {
      await store.init();
      const stats = async () => (await client.query(`SELECT n_tup_upd::int AS upd, n_tup_hot_upd::int AS hot, last_vacuum FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'open_windows'`, [schema])).rows[0];
      const n = 12_000;
      await store.writeWindows(windows(n, false, 1));
      await store.writeWindows(windows(n, false, 2));
      await eventually(async () => (await stats()).upd === n, 'the rewrites counted');
      assert.equal((await stats()).hot, n, 'every rewrite stayed on its page');
      await store.writeWindows(windows(n, true, 3));
      const counts = (await client.query(`SELECT (SELECT COUNT(*) FROM "${schema}".open_windows)::int AS open, (SELECT COUNT(*) FROM "${schema}".windows)::int AS final`)).rows[0];
      assert.deepEqual(counts, { open: 0, final: n });
      await eventually(async () => (await stats()).last_vacuum !== null, 'open_windows vacuumed after the windows closed');
    } finally {
      await store.dropSchema();
      await store.close();
      await client.end();
    }
  });
});
