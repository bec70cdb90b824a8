/**
 * `shadowplane pg-tap`: the PostgreSQL interceptor without a hop. It captures the server port's
 * packets on an interface (needs CAP_NET_RAW) and reports what `pg-proxy` reports: events to the
 * control plane with --control, a shadow fed with --shadow, the admin API with --admin.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { WINDOW_MS_HELP, hostPort, nonNegativeInt, positiveInt, unitFraction } from './common.js';
import { loadCatalog, postgresUrl, reporting, runInterceptor } from './pg-proxy.js';
import { DEFAULT_WINDOW_MS, PgTap } from '../shadows/sql/tap.js';

/** Commander parser for a TCP port 1..65535. */
function tcpPort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('must be a port between 1 and 65535');
  return n;
}

/** Adds the `pg-tap` subcommand. */
export function register(program: Command): void {
  program
    .command('pg-tap')
    .description('Passive PostgreSQL interceptor: captures the server port on an interface (CAP_NET_RAW), samples query metadata, optionally feeds a shadow')
    .option('--interface <name>', 'network interface to capture on', 'lo')
    .option('--port <port>', 'the server\'s TCP port', tcpPort, 5432)
    .option('--sample-rate <r>', 'share of queries whose metadata is sampled', unitFraction, 0.01)
    .option('--control <url>', 'control-plane base URL receiving events (POST /v1/events)')
    .option('--target <name>', 'target name on events', 'postgres')
    .option('--catalog <url>', 'read the column catalog (for unqualified columns in joins) from this database, postgres://USER@HOST:PORT/DB', postgresUrl)
    .option('--shadow <url>', 'shadow database fed with a sample of writes and reads', postgresUrl)
    .option('--write-rate <r>', 'share of writes replayed on the shadow', unitFraction, 0.01)
    .option('--read-rate <r>', 'share of reads mirrored to the shadow', unitFraction, 0.01)
    .option('--admin <host:port>', 'serve GET /v1/status and PUT /v1/rates here (PUT needs SHADOWPLANE_PGPROXY_TOKEN as a bearer token when that is set; required beyond loopback)', hostPort)
    .option('--ring-mb <n>', 'size of the kernel packet ring in MiB (1 MiB blocks)', positiveInt, 16)
    .option('--window-ms <n>', WINDOW_MS_HELP, nonNegativeInt, DEFAULT_WINDOW_MS)
    .action(async (opts: {
      interface: string; port: number; sampleRate: number; control?: string; target: string;
      catalog?: ReturnType<typeof postgresUrl>; shadow?: ReturnType<typeof postgresUrl>; writeRate: number; readRate: number;
      admin?: { host: string; port: number }; ringMb: number; windowMs: number;
    }) => {
      const { sink, mirror } = reporting(opts);
      const tap = new PgTap({
        interface: opts.interface, port: opts.port, sampleRate: opts.sampleRate, target: opts.target, events: sink, mirror,
        catalog: opts.catalog ? await loadCatalog(opts.catalog.url) : undefined, ringBytes: opts.ringMb << 20,
        windowMs: opts.windowMs,
      });
      try {
        await tap.start();
      } catch (err) {
        await sink.close();
        await mirror?.stop();
        throw err;
      }
      await runInterceptor(tap, sink, mirror, opts.admin, { interface: opts.interface, port: opts.port, control: opts.control ?? null });
    });
}
