/**
 * `shadowplane pg-proxy`: runs the PostgreSQL interceptor from flags alone. Events go to the
 * control plane with --control, else only counts are logged. --shadow also feeds a shadow
 * database with a sample of writes and reads; --admin serves the status/rates API.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { boundUrl } from '../api/app.js';
import { logger } from '../obs/log.js';
import { hostPort, oneOf, positiveInt, serviceToken, unitFraction } from './common.js';
import { runUntilSignal } from './shutdown.js';
import { DEFAULT_STARTUP_TIMEOUT_MS, PgProxy, type ProxyEngine, type SamplingSource } from '../shadows/sql/proxy.js';
import { EventSink } from '../shadows/sql/sink.js';
import { ShadowMirror } from '../shadows/sql/mirror.js';
import { startAdmin } from '../shadows/sql/admin.js';
import type { Catalog } from '../shadows/sql/metadata.js';
import type { TlsFiles } from '../shadows/sql/relay.js';

const log = logger('pg-proxy');

/** Commander parser for a postgres:// URL; returns it with its host, port and database. */
export function postgresUrl(value: string): { url: string; host: string; port: number; database: string } {
  let u: URL;
  try { u = new URL(value); } catch { throw new InvalidArgumentError('must be a URL such as postgres://user@127.0.0.1:5432/db'); }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw new InvalidArgumentError('must start with postgres:// or postgresql://');
  if (!u.hostname) throw new InvalidArgumentError('must name a host');
  return { url: value, host: u.hostname.replace(/^\[|\]$/g, ''), port: u.port ? Number(u.port) : 5432, database: decodeURIComponent(u.pathname.slice(1)) || 'postgres' };
}

/** Column lists of the upstream's tables, for attributing unqualified columns; undefined if unreadable. */
export async function loadCatalog(url: string): Promise<Catalog | undefined> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    const r = await c.query(`SELECT table_name AS t, column_name AS c FROM information_schema.columns
      WHERE table_schema NOT IN ('pg_catalog', 'information_schema')`);
    const map = new Map<string, Set<string>>();
    for (const { t, c: col } of r.rows as { t: string; c: string }[]) {
      if (!map.has(t)) map.set(t, new Set());
      map.get(t)!.add(col);
    }
    return map;
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'catalog not loaded; unqualified columns in joins stay unresolved');
    return undefined;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Reads --tls-cert and --tls-key (both or neither); a missing or unreadable file names its flag. */
export async function readTlsFiles(certPath?: string, keyPath?: string): Promise<TlsFiles | undefined> {
  if (certPath === undefined && keyPath === undefined) return undefined;
  if (certPath === undefined || keyPath === undefined) throw new InvalidArgumentError('--tls-cert and --tls-key go together');
  const read = async (flag: string, path: string): Promise<Buffer> => {
    try { return await readFile(path); } catch (err) { throw new InvalidArgumentError(`${flag} ${path}: ${(err as Error).message}`); }
  };
  return { cert: await read('--tls-cert', certPath), key: await read('--tls-key', keyPath) };
}

/** Adds the `pg-proxy` subcommand. */
export function register(program: Command): void {
  program
    .command('pg-proxy')
    .description('PostgreSQL wire-protocol interceptor: forwards everything, samples query metadata, optionally feeds a shadow')
    .requiredOption('--listen <host:port>', 'address to accept clients on', hostPort)
    .requiredOption('--upstream <url>', 'the real server, postgres://USER@HOST:PORT/DB', postgresUrl)
    .option('--sample-rate <r>', 'share of queries whose metadata is sampled', unitFraction, 0.01)
    .option('--control <url>', 'control-plane base URL receiving events (POST /v1/events)')
    .option('--target <name>', 'target name on events (default: the upstream database name)')
    .option('--shadow <url>', 'shadow database fed with a sample of writes and reads', postgresUrl)
    .option('--write-rate <r>', 'share of writes replayed on the shadow', unitFraction, 0.01)
    .option('--read-rate <r>', 'share of reads mirrored to the shadow', unitFraction, 0.01)
    .option('--admin <host:port>', 'serve GET /v1/status and PUT /v1/rates here (PUT needs SHADOWPLANE_PGPROXY_TOKEN as a bearer token when that is set; required beyond loopback)', hostPort)
    .option('--no-catalog', 'do not read the upstream column catalog')
    .option('--tls-cert <file>', 'PEM certificate (chain) to terminate clients\' TLS with (with --tls-key; the upstream stays in clear)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--startup-timeout <ms>', 'close a client whose startup packet is not complete this many ms after connecting (0: never)', (v) => (v === '0' ? 0 : positiveInt(v)), DEFAULT_STARTUP_TIMEOUT_MS)
    .option('--engine <engine>', 'byte path: native (C, built by npm ci), js (node:net), or auto (native when built and no --tls-cert)', oneOf(['native', 'js', 'auto'] as const), 'auto')
    .action(async (opts: {
      listen: { host: string; port: number }; upstream: ReturnType<typeof postgresUrl>; sampleRate: number;
      control?: string; target?: string; shadow?: ReturnType<typeof postgresUrl>; writeRate: number; readRate: number;
      admin?: { host: string; port: number }; catalog: boolean; engine: ProxyEngine; tlsCert?: string; tlsKey?: string; startupTimeout: number;
    }) => {
      const tls = await readTlsFiles(opts.tlsCert, opts.tlsKey);
      const { sink, mirror } = reporting(opts);
      const proxy = new PgProxy({
        upstreamHost: opts.upstream.host, upstreamPort: opts.upstream.port,
        target: opts.target ?? opts.upstream.database, sampleRate: opts.sampleRate, events: sink, mirror,
        catalog: opts.catalog ? await loadCatalog(opts.upstream.url) : undefined, engine: opts.engine, tls,
        startupTimeoutMs: opts.startupTimeout,
      });
      const port = await proxy.listen(opts.listen.port, opts.listen.host);
      await runInterceptor(proxy, sink, mirror, opts.admin, { listen: `${opts.listen.host}:${port}`, engine: proxy.engine, upstream: `${opts.upstream.host}:${opts.upstream.port}`, control: opts.control ?? null });
    });
}

/** Validates --control and creates the event sink and, with --shadow, the started shadow mirror. */
export function reporting(
  opts: { control?: string; shadow?: { url: string }; writeRate: number; readRate: number },
): { sink: EventSink; mirror?: ShadowMirror } {
  if (opts.control !== undefined) {
    try { new URL(opts.control); } catch { throw new InvalidArgumentError(`--control "${opts.control}" must be an http(s) URL`); }
  }
  const sink = new EventSink({ controlUrl: opts.control, token: serviceToken() });
  const mirror = opts.shadow ? new ShadowMirror({ shadowUrl: opts.shadow.url, writeRate: opts.writeRate, readRate: opts.readRate }) : undefined;
  mirror?.start();
  return { sink, mirror };
}

/**
 * Serves the admin API (with --admin), logs `pg-proxy listening` or `pg-tap listening` with `banner`
 * and the admin address bound, then counts every 10 s until SIGINT/SIGTERM (`runUntilSignal`); then stops
 * the proxy or tap, flushes the sink and mirror, and prints the final counters as one JSON line
 * (`{proxy|tap, sink, mirror}`).
 */
export async function runInterceptor(
  source: SamplingSource & { close(): Promise<void> },
  sink: EventSink,
  mirror: ShadowMirror | undefined,
  adminAt: { host: string; port: number } | undefined,
  banner: Record<string, unknown>,
): Promise<void> {
  const key = source.engine === 'tap' ? 'tap' : 'proxy';
  const admin = adminAt ? await startAdmin({ proxy: source, sink, mirror }, adminAt, process.env.SHADOWPLANE_PGPROXY_TOKEN || undefined) : undefined;
  log.info({ ...banner, admin: admin ? boundUrl(admin.server) : null }, `pg-${key} listening`);
  const report = setInterval(() => log.info({ [key]: source.stats, sink: sink.stats, mirror: mirror?.stats }, 'counts'), 10_000);
  report.unref();
  runUntilSignal(async () => {
    clearInterval(report);
    await admin?.close();
    await source.close();
    await sink.close();
    await mirror?.stop();
    process.stdout.write(JSON.stringify({ [key]: source.stats, sink: sink.stats, mirror: mirror?.stats ?? null }) + '\n');
  });
}
