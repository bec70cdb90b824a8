/**
 * The real `shadowplane serve` process: a kill -9 loses at most what arrived since the last flush,
 * and a graceful stop (SIGTERM) loses nothing, even when the store cannot be written at the stop.
 */
import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { exited, startServe as serve } from '../helpers/serve.js';

const dir = mkdtempSync(join(tmpdir(), 'sp-crash-'));
after(() => rmSync(dir, { recursive: true, force: true }));

writeFileSync(
  join(dir, 'shadowplane.yaml'),
  `server: { port: 0 }\nstore: { dataDir: ${JSON.stringify(join(dir, 'data'))}, flushInterval: 500ms }\ntargets:\n  - { name: orders-db, kind: database }\n`,
);

const startServe = () => serve(join(dir, 'shadowplane.yaml'));

async function post(url: string, n: number, tag: string): Promise<void> {
  const now = Date.now();
  const body = Array.from({ length: n }, (_, i) => JSON.stringify({ target: 'orders-db', op: 'read', table: 'orders', bytes: 10, latencyMs: 1, requestId: `${tag}-${i}`, at: now })).join('\n');
  const res = await fetch(`${url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });
  assert.equal(((await res.json()) as { accepted: number }).accepted, n);
}

async function flushedRows(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^shadowplane_flush_rows_total (\d+)/m.exec(text)?.[1] ?? 0);
}

async function storedCount(url: string): Promise<number> {
  const res = await fetch(`${url}/v1/targets/orders-db/series?metric=count&from=now-15m&to=${Date.now() + 120_000}&step=1m`);
  return ((await res.json()) as { points: { v: number }[] }).points.reduce((sum, p) => sum + p.v, 0);
}


test('kill -9 loses at most one flush interval; SIGTERM flushes everything', { timeout: 240_000 }, async () => {
  let { child, url } = await startServe();
  const before = await flushedRows(url);
  await post(url, 100, 'a');
  while ((await flushedRows(url)) === before) await new Promise((r) => setTimeout(r, 100));
  await post(url, 50, 'b'); // lands after the last flush: may be lost
  child.kill('SIGKILL');
  await exited(child);

  ({ child, url } = await startServe());
  const afterCrash = await storedCount(url);
  assert.ok(afterCrash >= 100 && afterCrash <= 150, `after kill -9: ${afterCrash} of 150 events kept (at least the 100 flushed)`);

  await post(url, 30, 'c');
  child.kill('SIGTERM');
  await exited(child);
  ({ child, url } = await startServe());
  assert.equal(await storedCount(url), afterCrash + 30, 'a graceful stop flushes what is open');
  child.kill('SIGTERM');
  await exited(child);
});

test('SIGTERM while the store cannot be written says how many windows it keeps and where; the next start writes them', { timeout: 240_000 }, async () => {
  const dataDir = join(dir, 'data');
  let { child, url } = await startServe();
  const before = await storedCount(url);
  const db = new Database(join(dataDir, 'shadowplane.db'));
  db.exec('BEGIN EXCLUSIVE'); // another writer holds the lock: every flush from now on fails
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  try {
    await post(url, 40, 'd');
    child.kill('SIGTERM');
    await exited(child);
  } finally {
    db.exec('ROLLBACK');
    db.close();
  }
  const kept = /(\d+) windows are kept in (\S+); the next start writes them/.exec(stderr);
  assert.ok(kept, stderr);
  assert.ok(kept[2].startsWith(join(dataDir, 'unflushed')), kept[2]);
  assert.equal(child.exitCode, 0);
  ({ child, url } = await startServe());
  assert.equal(await storedCount(url), before + 40, 'the spilled windows were written at start');
  child.kill('SIGTERM');
  await exited(child);
});
