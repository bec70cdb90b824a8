/**
 * The interceptor against the real PostgreSQL, with each byte path (the C relay and the node:net
 * one): psql, the pg client (simple and prepared statements), COPY, errors, cancel, pgbench, md5
 * and SCRAM authentication through it; events posted as NDJSON to an HTTP receiver; no literal or
 * parameter value in any event.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import type { RequestEvent } from '../../../src/model/event.js';
import { keepSample } from '../../../src/ingest/sampler.js';
import { PgProxy } from '../../../src/shadows/sql/proxy.js';
import { nativeBinding } from '../../../src/shadows/sql/native-relay.js';
import { EventSink } from '../../../src/shadows/sql/sink.js';
import { CANCEL_REQUEST, SSL_REQUEST, errorResponse } from '../../../src/shadows/sql/wire.js';
import { stalledClient } from '../../helpers/sockets.js';
import { dropDatabase, freshDatabase, pgbenchInit, postgresAvailable, PG_HOST, PG_SKIP, PG_PORT, settled, startAuthCluster } from './helpers.js';

const exec = promisify(execFile);
const DB = 'sp_sql_test_proxy';
/** A protocol 3.0 StartupMessage for user postgres on the test database. */
function startupMessage(): Buffer {
  const params = Buffer.from(`user\0postgres\0database\0${DB}\0\0`);
  const head = Buffer.alloc(8);
  head.writeInt32BE(8 + params.length, 0);
  head.writeInt32BE(196608, 4);
  return Buffer.concat([head, params]);
}

const EVENT_FIELDS = new Set(['target', 'op', 'table', 'columns', 'route', 'bytes', 'rows', 'latencyMs', 'status', 'error', 'user', 'requestId', 'samplingRate', 'at']);

const NATIVE_SKIP = process.env.CI !== 'true' && nativeBinding() instanceof Error ? 'the native relay is not built (npm ci compiles it with make and a C compiler; CI=true requires it)' : false;

test('the native relay is built (npm ci compiles it; CI requires it)', { skip: NATIVE_SKIP }, () => {
  const native = nativeBinding();
  assert.ok(!(native instanceof Error), native instanceof Error ? native.message : '');
});

for (const engine of ['native', 'js'] as const) describe(`pg-proxy (${engine} engine) against PostgreSQL`, { skip: engine === 'native' ? NATIVE_SKIP : false }, async () => {
  const available = await postgresAvailable();
  let proxy: PgProxy;
  let sink: EventSink;
  let port: number;
  let receiver: http.Server;
  const received: RequestEvent[] = [];

  before(async () => {
    if (!available) return;
    await freshDatabase(DB);
    await pgbenchInit(DB, 1);
    receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        assert.equal(req.url, '/v1/events');
        assert.equal(req.headers['content-type'], 'application/x-ndjson');
        for (const line of Buffer.concat(chunks).toString('utf8').split('\n')) if (line) received.push(JSON.parse(line));
        res.writeHead(202).end('{}');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    sink = new EventSink({ controlUrl: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`, flushMs: 100 });
    proxy = new PgProxy({ upstreamHost: PG_HOST, upstreamPort: PG_PORT, target: 'orders-db', sampleRate: 1, events: sink, engine });
    assert.equal(proxy.engine, engine);
    port = await proxy.listen(0);
  });

  after(async () => {
    if (!available) return;
    await proxy.close();
    await sink.close();
    receiver.close();
    await dropDatabase(DB);
  });

  const client = async (user = 'postgres', password?: string, p = port, db = DB): Promise<pg.Client> => {
    const c = new pg.Client({ host: '127.0.0.1', port: p, user, password, database: db });
    await c.connect();
    return c;
  };

  /** A fresh session still gets answers: whatever the test did left the proxy serving. */
  const stillServes = async (): Promise<void> => {
    const c = await client();
    assert.equal((await c.query('SELECT 1 AS one')).rows[0].one, 1);
    await c.end();
  };

  test('pg client: simple and prepared statements, errors with SQLSTATE, and no values in events', { skip: available ? false : PG_SKIP }, async () => {
    const c = await client();
    const secretText = 'secret-literal-Zq9';
    const secretNumber = 987654321;
    const secretParam = 'param-value-Xy7';
    await c.query(`SELECT aid, abalance FROM pgbench_accounts WHERE aid = ${secretNumber} OR filler = '${secretText}'`);
    const prepared = await c.query({ name: 'by_filler', text: 'SELECT count(*) AS n FROM pgbench_accounts a JOIN pgbench_branches b ON a.bid = b.bid WHERE a.filler <> $1', values: [secretParam] });
    assert.equal(Number(prepared.rows[0].n), 100000);
    await c.query({ name: 'by_filler', text: 'SELECT count(*) AS n FROM pgbench_accounts a JOIN pgbench_branches b ON a.bid = b.bid WHERE a.filler <> $1', values: [secretParam + '2'] });
    const upd = await c.query('UPDATE pgbench_tellers SET tbalance = tbalance + $1 WHERE tid = $2 RETURNING tid', [secretNumber, 3]);
    assert.equal(upd.rowCount, 1);
    await assert.rejects(c.query(`SELECT * FROM no_such_table WHERE x = '${secretText}'`), (e: { code?: string }) => e.code === '42P01');
    // The connection still works after an error in the extended protocol.
    assert.equal((await c.query('SELECT $1::int + 1 AS v', [41])).rows[0].v, 42);
    await c.end();
    await sink.flush();
    const mine = received.filter((e) => e.route?.includes('pgbench_') || e.route?.includes('no_such_table'));
    assert.ok(mine.length >= 5, `expected events, got ${mine.length}`);
    for (const e of received) {
      for (const k of Object.keys(e)) assert.ok(EVENT_FIELDS.has(k), `unknown field ${k}`);
      const json = JSON.stringify(e);
      for (const secret of [secretText, String(secretNumber), secretParam]) assert.ok(!json.includes(secret), `event leaks ${secret}: ${json}`);
    }
    const join = received.filter((e) => e.route?.startsWith('select count(*) as n from pgbench_accounts a join'));
    assert.deepEqual(join.map((e) => e.table).sort(), ['pgbench_accounts', 'pgbench_accounts', 'pgbench_branches', 'pgbench_branches']);
    const accounts = join.find((e) => e.table === 'pgbench_accounts')!;
    assert.deepEqual(accounts.columns, ['bid', 'filler']);
    assert.equal(accounts.rows, 1);
    assert.equal(accounts.user, 'postgres');
    const failed = received.find((e) => e.route?.includes('no_such_table'))!;
    assert.equal(failed.error, '42P01');
    const update = received.find((e) => e.route?.startsWith('update pgbench_tellers'))!;
    assert.equal(update.op, 'write');
    assert.equal(update.rows, 1);
    assert.equal(update.route, 'update pgbench_tellers set tbalance = tbalance + $1 where tid = $2 returning tid');
    assert.equal(new Set(join.map((e) => e.requestId)).size, 2, 'one request id per query, shared by its tables');
  });

  test('a statement the parser rejects is forwarded untouched, answered by the server, and counted', { skip: available ? false : PG_SKIP }, async () => {
    const before = proxy.stats.unparseable;
    const c = await client();
    await assert.rejects(c.query("SELEC 'not-sql-secret'"), (e: { code?: string }) => e.code === '42601');
    assert.equal((await c.query('SELECT 2 AS two')).rows[0].two, 2);
    await c.end();
    await settled(() => proxy.stats.unparseable > before);
    assert.equal(proxy.stats.unparseable, before + 1);
    await sink.flush();
    assert.ok(!received.some((e) => JSON.stringify(e).includes('not-sql-secret')));
  });

  test('statements that differ only in literals share one parse; an unterminated one is still unparseable', { skip: available ? false : PG_SKIP }, async () => {
    const c = await client();
    const before = { events: proxy.stats.events, unparseable: proxy.stats.unparseable };
    await c.query("SELECT bid FROM pgbench_branches WHERE bid = 1 AND 'lit-a' <> ''");
    await c.query("SELECT bid FROM pgbench_branches WHERE bid = 2 AND 'lit-b' <> ''");
    await assert.rejects(c.query("SELECT bid FROM pgbench_branches WHERE bid = 3 AND 'lit-c"), (e: { code?: string }) => e.code === '42601');
    await c.end();
    await settled(() => proxy.stats.events >= before.events + 2 && proxy.stats.unparseable > before.unparseable);
    assert.equal(proxy.stats.events, before.events + 2);
    assert.equal(proxy.stats.unparseable, before.unparseable + 1);
  });

  test('psql: multi-statement simple query, COPY in and out, notices', { skip: available ? false : PG_SKIP }, async () => {
    const args = ['-X', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', DB, '-v', 'ON_ERROR_STOP=1'];
    const { stdout, stderr } = await exec('psql', [...args, '-At', '-c', "DO $$ BEGIN RAISE NOTICE 'hello'; END $$; SELECT count(*) FROM pgbench_branches"]);
    assert.deepEqual(stdout.trim().split('\n'), ['DO', '1']);
    assert.match(stderr, /NOTICE: {2}hello/);
    const copyOut = await exec('psql', [...args, '-c', 'COPY (SELECT bid FROM pgbench_branches) TO STDOUT']);
    assert.equal(copyOut.stdout.trim(), '1');
    const child = execFile('psql', [...args, '-c', '\\copy pgbench_history (tid, bid, aid, delta, mtime) from stdin']);
    child.stdin!.end('1\t1\t1\t5\t2024-01-01\n2\t1\t2\t6\t2024-01-01\n');
    const out = await new Promise<string>((resolve, reject) => {
      let s = '';
      child.stdout!.on('data', (d) => (s += d));
      child.on('close', (code) => (code === 0 ? resolve(s) : reject(new Error(`psql exited ${code}`))));
    });
    assert.match(out, /COPY 2/);
  });

  test('cancel requests are forwarded to the server', { skip: available ? false : PG_SKIP }, async () => {
    const c = await client();
    const { processID, secretKey } = c as unknown as { processID: number; secretKey: number };
    const running = c.query('SELECT pg_sleep(30)');
    // A cancel that reaches the server before the query does is ignored: wait until it runs.
    const direct = await client('postgres', undefined, PG_PORT);
    for (let i = 0; i < 250; i++) {
      const { rows } = await direct.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND query LIKE 'SELECT pg_sleep%' AND state = 'active'", [processID]);
      if (rows.length) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    await direct.end();
    const packet = Buffer.alloc(16);
    packet.writeInt32BE(16, 0);
    packet.writeInt32BE(CANCEL_REQUEST, 4);
    packet.writeInt32BE(processID, 8);
    packet.writeInt32BE(secretKey, 12);
    const s = net.connect(port, '127.0.0.1', () => s.end(packet));
    await assert.rejects(running, (e: { code?: string }) => e.code === '57014');
    await c.end();
    assert.ok(proxy.stats.cancelsForwarded >= 1);
  });

  test('pgbench (select-only and TPC-B-like, prepared) runs through the proxy without failures', { skip: available ? false : PG_SKIP }, async () => {
    const common = ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-c', '4', '-t', '25', '-n'];
    for (const extra of [['-S'], ['-M', 'prepared'], ['-M', 'extended', '-S']]) {
      const { stdout } = await exec('pgbench', [...common, ...extra, DB]);
      assert.match(stdout, /number of transactions actually processed: 100\/100/);
    }
  });

  test('a garbage startup packet is refused without harming the proxy', { skip: available ? false : PG_SKIP }, async () => {
    const s = net.connect(port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    s.write(Buffer.from([0, 0, 0, 2, 1, 2, 3, 4]));
    const reply = await new Promise<Buffer>((resolve) => s.once('data', resolve));
    assert.equal(reply[0], 0x45 /* ErrorResponse */);
    s.destroy();
    await stillServes();
  });

  test('clients that close before their startup packet (port probes) are let go', { skip: available ? false : PG_SKIP }, async () => {
    // Sessions of the tests before may still be closing on the proxy's side: start from none.
    await settled(() => proxy.stats.active === 0);
    assert.equal(proxy.stats.active, 0);
    await Promise.all(Array.from({ length: 5 }, () => new Promise<void>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.end(Buffer.from([0, 0])));
      s.on('close', () => resolve());
      s.resume();
    })));
    await settled(() => proxy.stats.active === 0);
    assert.equal(proxy.stats.active, 0);
    await stillServes();
  });

  test('a message length the protocol forbids loses the framing: still forwarded, counted, the proxy unharmed', { skip: available ? false : PG_SKIP }, async () => {
    const before = proxy.stats.framingLost;
    const s = net.connect(port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    s.write(startupMessage());
    await new Promise((r) => s.once('data', r));
    s.on('data', () => undefined);
    s.write(Buffer.from([0x51, 0, 0, 0, 1]));
    // The server sees the same bytes and ends the session itself.
    await new Promise((r) => s.once('close', r));
    assert.equal(proxy.stats.framingLost, before + 1);
    await stillServes();
  });

  test('SSLRequest is answered N and the session goes on in clear', { skip: available ? false : PG_SKIP }, async () => {
    const before = proxy.stats.sslRefused;
    const s = net.connect(port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    const request = Buffer.alloc(8);
    request.writeInt32BE(8, 0);
    request.writeInt32BE(SSL_REQUEST, 4);
    s.write(request);
    const reply = await new Promise<Buffer>((resolve) => s.once('data', resolve));
    assert.equal(reply.toString(), 'N');
    s.write(startupMessage());
    const auth = await new Promise<Buffer>((resolve) => s.once('data', resolve));
    assert.equal(auth[0], 0x52 /* AuthenticationOk */);
    s.destroy();
    assert.equal(proxy.stats.sslRefused, before + 1);
  });

  test('with a certificate, TLS is terminated (sslmode=require works; clear sessions still do); the native engine declines TLS', { skip: available ? false : PG_SKIP }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sp-pg-tls-'));
    try {
      await exec('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '1',
        '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
      const tls = { cert: await readFile(join(dir, 'cert.pem')), key: await readFile(join(dir, 'key.pem')) };
      if (engine === 'native') {
        assert.throws(() => new PgProxy({ upstreamHost: PG_HOST, upstreamPort: PG_PORT, target: 't', sampleRate: 1, events: { add: () => undefined }, engine, tls }), /does not terminate TLS.*--engine js/);
        return;
      }
      assert.throws(() => new PgProxy({ upstreamHost: PG_HOST, upstreamPort: PG_PORT, target: 't', sampleRate: 1, events: { add: () => undefined }, tls: { cert: tls.cert, key: Buffer.from('not a key') } }), /TLS certificate or key rejected/);
      const events: RequestEvent[] = [];
      const secure = new PgProxy({ upstreamHost: PG_HOST, upstreamPort: PG_PORT, target: 't', sampleRate: 1, events: { add: (e) => events.push(e) }, tls });
      assert.equal(secure.engine, 'js', 'auto picks the engine that terminates TLS');
      const p = await secure.listen(0);
      try {
        const psql = (sslmode: string) => exec('psql', ['-X', '-At', '-d', `host=127.0.0.1 port=${p} user=postgres dbname=${DB} sslmode=${sslmode}`,
          '-c', 'SELECT bid FROM pgbench_branches', '-c', 'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()']);
        const { stdout } = await psql('require');
        // Between the proxy and the server the session is in clear: the server's view says so.
        assert.deepEqual(stdout.trim().split('\n'), ['1', 'f']);
        assert.equal(secure.stats.tlsTerminated, 1);
        assert.deepEqual((await psql('disable')).stdout.trim().split('\n'), ['1', 'f']);
        assert.equal(secure.stats.tlsTerminated, 1);
        await settled(() => secure.stats.active === 0);
        assert.equal(secure.stats.active, 0, 'sessions that end, in TLS or not, are no longer counted');
      } finally {
        await secure.close();
      }
      assert.equal(events.filter((e) => e.table === 'pgbench_branches').length, 2, 'queries inside TLS are sampled like the others');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('an unreachable upstream is reported to the client as 08006, naming the address', { skip: available ? false : PG_SKIP }, async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const orphan = new PgProxy({ upstreamHost: '127.0.0.1', upstreamPort: deadPort, target: 't', sampleRate: 1, events: { add: () => undefined }, engine });
    const p = await orphan.listen(0);
    try {
      await assert.rejects(client('postgres', undefined, p), (e: { code?: string; message?: string }) =>
        e.code === '08006' && /upstream unreachable: .*ECONNREFUSED.*127\.0\.0\.1/.test(e.message ?? ''));
      await settled(() => orphan.stats.active === 0);
      assert.equal(orphan.stats.active, 0, 'the session is closed after the error');
    } finally {
      await orphan.close();
    }
  });

  test('a client that sends 4 bytes of a startup packet is closed after the startup timeout; a real client is served meanwhile', { skip: available ? false : PG_SKIP, timeout: 30_000 }, async () => {
    const guarded = new PgProxy({ upstreamHost: PG_HOST, upstreamPort: PG_PORT, target: 't', sampleRate: 0, events: { add: () => undefined }, engine, startupTimeoutMs: 300 });
    const p = await guarded.listen(0);
    const real = await client('postgres', undefined, p);
    try {
      const stalled = await Promise.all([stalledClient(p, Buffer.from([0, 0, 0, 40])), stalledClient(p)]);
      assert.deepEqual((await real.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
      await Promise.all(stalled.map((s) => s.closed));
      assert.deepEqual((await real.query('SELECT 2 AS two')).rows, [{ two: 2 }], 'a session past its startup is not timed out');
      assert.equal(guarded.stats.startupTimeouts, 2);
    } finally {
      await real.end();
      await guarded.close();
    }
  });

  test('a rate change applies to the next query, and every event carries the rate it was kept at', { skip: available ? false : PG_SKIP }, async () => {
    const events: RequestEvent[] = [];
    const switching = new PgProxy({ upstreamHost: PG_HOST, upstreamPort: PG_PORT, target: 't', sampleRate: 0, events: { add: (e) => events.push(e) }, engine });
    const p = await switching.listen(0);
    try {
      const c = await client('postgres', undefined, p);
      await c.query('SELECT bid FROM pgbench_branches');
      switching.setSampleRate(1);
      await c.query('SELECT tid FROM pgbench_tellers');
      await settled(() => events.length === 1);
      switching.setSampleRate(0.25);
      for (let i = 0; i < 80; i++) await c.query('SELECT aid FROM pgbench_accounts WHERE aid = $1', [i + 1]);
      await c.end();
    } finally {
      await switching.close();
    }
    assert.deepEqual(events[0], { ...events[0], table: 'pgbench_tellers', samplingRate: 1 });
    const quarter = events.slice(1);
    // 80 draws at 0.25: fewer than 5 or more than 40 kept has a probability below 1e-6
    assert.ok(quarter.length >= 5 && quarter.length <= 40, `kept ${quarter.length} of 80 at 0.25`);
    assert.ok(quarter.every((e) => e.table === 'pgbench_accounts' && e.samplingRate === 0.25), JSON.stringify(quarter.slice(0, 2)));
  });

  test('a large result reaches a client that stops reading, byte for byte, and is counted once', { skip: available ? false : PG_SKIP, timeout: 60_000 }, async () => {
    // The proxy reads the server's replies into one reused buffer: a write to a client that is not
    // reading must not see that buffer overwritten by the next read.
    const ROWS = 30_000;
    const sampledBefore = proxy.stats.sampled;
    const s = net.connect(port, '127.0.0.1');
    await new Promise((r) => s.once('connect', r));
    let data = Buffer.alloc(0);
    let readyCount = 0;
    const messages: { type: number; body: Buffer }[] = [];
    let onReady: () => void = () => undefined;
    s.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      while (data.length >= 5 && data.length >= 1 + data.readInt32BE(1)) {
        const len = data.readInt32BE(1);
        const m = { type: data[0], body: data.subarray(5, 1 + len) };
        data = data.subarray(1 + len);
        if (readyCount > 0) messages.push(m);
        if (m.type === 0x5a) { readyCount++; onReady(); }
      }
    });
    const ready = (): Promise<void> => new Promise((r) => { onReady = r; });
    let wait = ready();
    s.write(startupMessage());
    await wait;
    const sql = `SELECT i, repeat(md5(i::text), 32) FROM generate_series(1, ${ROWS}) i`;
    const query = Buffer.alloc(5);
    query[0] = 0x51;
    query.writeInt32BE(4 + Buffer.byteLength(sql) + 1, 1);
    wait = ready();
    s.write(Buffer.concat([query, Buffer.from(sql + '\0')]));
    s.pause();
    await new Promise((r) => setTimeout(r, 500));
    s.resume();
    await wait;
    s.end();
    const rows = messages.filter((m) => m.type === 0x44);
    assert.equal(rows.length, ROWS);
    rows.forEach((m, k) => {
      const i = k + 1;
      const l1 = m.body.readInt32BE(2);
      assert.equal(m.body.toString('utf8', 6, 6 + l1), String(i));
      const value = m.body.toString('utf8', 10 + l1);
      assert.equal(value, createHash('md5').update(String(i)).digest('hex').repeat(32), `row ${i} differs`);
    });
    // The native engine hands a finished query over from its own thread, possibly after the
    // client has its reply: wait for the parser to have seen it before flushing the sink.
    await settled(() => proxy.stats.sampled > sampledBefore);
    await sink.flush();
    const events = received.filter((e) => e.route?.startsWith('select i, repeat(md5(i::text), $1) from generate_series'));
    assert.equal(events.length, 1);
    assert.equal(events[0].rows, ROWS);
    assert.ok(events[0].bytes > ROWS * 1024, `bytes ${events[0].bytes}`);
  });

  test('at a fractional rate, exactly the queries whose request id keepSample keeps are reported, each with its own statement', { skip: available ? false : PG_SKIP }, async () => {
    const events: RequestEvent[] = [];
    const rate = 0.3;
    const sampling = new PgProxy({ upstreamHost: PG_HOST, upstreamPort: PG_PORT, target: 't', sampleRate: rate, events: { add: (e) => events.push(e) }, engine });
    const p = await sampling.listen(0);
    const N = 120;
    try {
      const c = await client('postgres', undefined, p);
      // Even queries use the simple protocol, odd ones the extended protocol, on other tables.
      for (let i = 1; i <= N; i++) {
        if (i % 2 === 0) await c.query('SELECT bid FROM pgbench_branches WHERE bid = 1');
        else await c.query('SELECT tid FROM pgbench_tellers WHERE tid = $1', [1]);
      }
      await c.end();
    } finally {
      await sampling.close();
    }
    assert.equal(sampling.stats.queries, N);
    assert.ok(events.length > 0 && events.length < N, `${events.length} events`);
    const prefix = events[0].requestId!.replace(/-\d+$/, '');
    const expected = [];
    for (let i = 1; i <= N; i++) if (keepSample(rate, `${prefix}-${i}`)) expected.push(i);
    const seqs = events.map((e) => Number(e.requestId!.slice(prefix.length + 1)));
    assert.deepEqual(seqs, expected);
    for (const e of events) {
      const i = Number(e.requestId!.slice(prefix.length + 1));
      assert.equal(e.table, i % 2 === 0 ? 'pgbench_branches' : 'pgbench_tellers');
      assert.equal(e.rows, 1);
    }
    assert.equal(sampling.stats.sampled, expected.length);
  });

  test('md5 and SCRAM authentication are relayed unchanged', { skip: available ? false : PG_SKIP }, async () => {
    const cluster = await startAuthCluster();
    const authProxy = new PgProxy({ upstreamHost: PG_HOST, upstreamPort: cluster.port, target: 'auth', sampleRate: 1, events: { add: () => undefined }, engine });
    const p = await authProxy.listen(0);
    try {
      for (const [user, password] of [['md5user', 'pw-md5'], ['scramuser', 'pw-scram']]) {
        const c = await client(user, password, p, 'postgres');
        assert.equal((await c.query('SELECT current_user AS u')).rows[0].u, user);
        await c.end();
        await assert.rejects(client(user, 'wrong', p, 'postgres'), (e: { code?: string }) => e.code === '28P01');
      }
    } finally {
      await authProxy.close();
      await cluster.stop();
    }
  });
});

for (const engine of ['native', 'js'] as const) {
  test(`${engine} engine: a query that fails is reported even when the client closes before the server's ReadyForQuery reaches the proxy`, { skip: engine === 'native' ? NATIVE_SKIP : false }, async () => {
    // A scripted server: it sends the ErrorResponse at once and the ReadyForQuery 300 ms later,
    // by which time the client (which, like node-postgres, takes the error as the answer) is gone.
    const server = net.createServer((socket) => {
      let startup = true;
      socket.on('data', (chunk) => {
        if (startup) {
          startup = false;
          socket.write(Buffer.from([0x52, 0, 0, 0, 8, 0, 0, 0, 0, 0x5a, 0, 0, 0, 5, 0x49])); // AuthenticationOk, ReadyForQuery
        } else if (chunk[0] === 0x51) {
          socket.write(errorResponse('42703', 'column "nope" does not exist'));
          setTimeout(() => socket.writable && socket.write(Buffer.from([0x5a, 0, 0, 0, 5, 0x49])), 300).unref();
        }
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const events: RequestEvent[] = [];
    const proxy = new PgProxy({ upstreamHost: '127.0.0.1', upstreamPort: (server.address() as AddressInfo).port, target: 't', sampleRate: 1, events: { add: (e) => events.push(e) }, engine });
    try {
      const client = net.connect(await proxy.listen(0), '127.0.0.1');
      const received: Buffer[] = [];
      const seen = (type: number) => settled(() => Buffer.concat(received).includes(type));
      client.on('data', (d) => received.push(d));
      client.write(startupMessage());
      await seen(0x5a);
      const sql = Buffer.from('SELECT nope FROM orders\0');
      const query = Buffer.alloc(5);
      query[0] = 0x51;
      query.writeInt32BE(4 + sql.length, 1);
      client.write(Buffer.concat([query, sql]));
      await seen(0x45);
      client.destroy();
      await settled(() => events.length > 0);
      assert.deepEqual(events.map((e) => [e.table, e.error]), [['orders', '42703']]);
    } finally {
      await proxy.close();
      server.close();
    }
  });
}
