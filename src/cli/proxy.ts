/**
 * `shadowplane proxy`: the traffic manager as its own process. A single route can be given by
 * flags alone; a configuration file (JSON or YAML) describes everything else, and flags override it.
 */
import type { Command } from 'commander';
import type { FastifyInstance } from 'fastify';
import { isCoded, ShadowplaneError } from '../core/errors.js';
import { boundUrl } from '../api/app.js';
import { logger } from '../obs/log.js';
import type { AdminRoutes } from '../shadows/kit/admin.js';
import { startAdmin } from '../shadows/traffic/admin.js';
import { loadProxyConfigFile, splitHostPort, validate, ProxyConfigSchema } from '../shadows/traffic/config.js';
import { realClock } from '../core/clock.js';
import { TrafficProxy } from '../shadows/traffic/proxy.js';
import { DEFAULT_WINDOW_MS } from '../shadows/sql/tap.js';
import { HttpTap } from '../shadows/traffic/tap.js';
import { WINDOW_MS_HELP, nonNegativeInt, positiveInt, serviceToken, unitFraction } from './common.js';
import { runUntilSignal } from './shutdown.js';

const log = logger('cli.proxy');

/** Options of the proxy subcommand. */
interface ProxyOptions {
  listen?: string;
  admin?: string;
  primary?: string;
  shadow?: string;
  secondary?: string;
  mirrorFraction?: number;
  mirrorWrites?: boolean;
  mirrorTimeout?: number;
  shadowHostSuffix?: boolean;
  control?: string;
  target?: string;
  name?: string;
  sampleRate?: number;
  userHeader?: string;
  config?: string;
}

/** Builds the validated configuration from the file (if any) and the flags. Throws config errors. */
export async function resolveProxyConfig(o: ProxyOptions): Promise<ReturnType<typeof validate<typeof ProxyConfigSchema>>> {
  const raw = (o.config ? await loadProxyConfigFile(o.config) : {}) as Record<string, unknown>;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_CONFIG_INVALID', 'the configuration file must hold an object', [{ path: '/', message: 'must be an object' }]);
  }
  const cfg: Record<string, unknown> = { ...raw };
  if (o.listen) cfg.listen = o.listen;
  if (o.admin) cfg.admin = o.admin;
  if (o.control || o.target) {
    if (!o.control || !o.target) throw new ShadowplaneError('SHADOWPLANE_ERR_CONFIG_INVALID', '--control and --target go together', [{ path: o.control ? '--target' : '--control', message: 'is required with the other' }]);
    cfg.control = {
      ...(raw.control as object | undefined), url: o.control, target: o.target, ...(o.name ? { name: o.name } : {}),
      ...(o.sampleRate !== undefined ? { sampleRate: o.sampleRate } : {}), ...(o.userHeader ? { userHeader: o.userHeader } : {}),
    };
  }
  if (o.primary) {
    const routes = (Array.isArray(raw.routes) ? raw.routes : []).filter((r: { name?: string }) => r?.name !== 'default');
    const mirror: Record<string, unknown> = { fraction: o.mirrorFraction ?? (o.shadow ? 1 : 0) };
    if (o.mirrorWrites) mirror.writes = { enabled: true };
    if (o.mirrorTimeout) mirror.timeoutMs = o.mirrorTimeout;
    if (o.shadowHostSuffix) mirror.shadowHostSuffix = true;
    routes.push({ name: 'default', pathPrefix: '/', primary: o.primary, ...(o.shadow ? { shadow: o.shadow } : {}), ...(o.secondary ? { secondary: o.secondary } : {}), mirror });
    cfg.routes = routes;
  } else if (o.shadow || o.mirrorFraction !== undefined) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_CONFIG_INVALID', '--shadow and --mirror-fraction need --primary', [{ path: '--primary', message: 'is required' }]);
  }
  return validate(ProxyConfigSchema, cfg);
}

/** The options `proxy` and `http-tap` share: one route by flags, telemetry, the config file. */
function routeOptions(command: Command): Command {
  return command
    .option('--admin <host:port>', 'admin API and /metrics address (default 127.0.0.1:9901)')
    .option('--primary <url>', 'primary upstream of a single route "default"')
    .option('--shadow <url>', 'shadow upstream of that route')
    .option('--secondary <url>', 'secondary primary (comparison noise cancellation)')
    .option('--mirror-fraction <f>', 'share of reads mirrored to the shadow (default 1 with --shadow)', unitFraction)
    .option('--mirror-writes', 'mirror writes too (rate-limited, 10/s by default)')
    .option('--mirror-timeout <ms>', 'mirror timeout in ms (default 1000)', positiveInt)
    .option('--shadow-host-suffix', 'send Host: <host>-shadow to the shadow')
    .option('--control <url>', 'control-plane URL for request telemetry')
    .option('--target <name>', 'target name in telemetry events')
    .option('--name <name>', "this proxy's name on the target's timeline, as the service's shadows list names it (default proxy)")
    .option('--sample-rate <f>', "the target's sampling rate (default 0.1)", unitFraction)
    .option('--user-header <name>', 'header carrying the caller user id')
    .option('--config <file>', 'JSON or YAML configuration file');
}

/** Starts the admin API of `proxy` on its configured address; `extra` routes join its `/v1` ones. */
async function serveAdmin(proxy: TrafficProxy, extra?: AdminRoutes): Promise<FastifyInstance> {
  try {
    return await startAdmin(proxy, splitHostPort(proxy.config.admin), process.env.SHADOWPLANE_PROXY_TOKEN, extra);
  } catch (err) {
    if (isCoded(err, 'SHADOWPLANE_ERR_INSECURE_BIND')) throw err;
    await proxy.close(0);
    throw new ShadowplaneError('SHADOWPLANE_ERR_PROXY_LISTEN', `cannot listen on ${proxy.config.admin}: ${(err as Error).message}`);
  }
}

/** Registers `proxy` and `http-tap`. */
export function register(program: Command): void {
  routeOptions(program
    .command('proxy')
    .description('Run the traffic manager: reverse proxy with mirroring, comparison and gradual migration')
    .option('--listen <host:port>', 'data-path address (default 127.0.0.1:8080)'))
    .action(async (o: ProxyOptions) => {
      const config = await resolveProxyConfig(o);
      const proxy = new TrafficProxy(config, realClock, serviceToken());
      // The admin API (fastify start-up is the costly part) is up before the data port opens, so
      // the first proxied requests do not compete with it.
      const app = await serveAdmin(proxy);
      const addr = await proxy.listen().catch(async (err: unknown) => {
        await app.close();
        throw err;
      });
      log.info({ listen: `${addr.address}:${addr.port}`, admin: boundUrl(app.server), routes: config.routes.map((r) => r.name) }, 'proxy listening');
      runUntilSignal(async () => {
        log.info('stopping');
        await Promise.all([proxy.close(), app.close()]);
      });
    });

  routeOptions(program
    .command('http-tap')
    .description('Passive traffic manager: captures the primary\'s port on an interface (CAP_NET_RAW), samples request metadata, mirrors and compares')
    .option('--interface <name>', 'network interface to capture on', 'lo')
    .option('--ring-mb <n>', 'size of the kernel packet ring in MiB (1 MiB blocks)', positiveInt, 16)
    .option('--window-ms <n>', WINDOW_MS_HELP, nonNegativeInt, DEFAULT_WINDOW_MS))
    .action(async (o: ProxyOptions & { interface: string; ringMb: number; windowMs: number }) => {
      const config = await resolveProxyConfig(o);
      const primary = new URL(config.routes.find((r) => r.name === 'default')?.primary ?? config.routes[0]?.primary ?? 'http://-');
      const port = Number(primary.port || (primary.protocol === 'https:' ? 443 : 80));
      if (primary.protocol !== 'http:' || !port) throw new ShadowplaneError('SHADOWPLANE_ERR_CONFIG_INVALID', 'http-tap needs an http:// primary (its port is the one captured)', [{ path: '--primary', message: 'must be an http:// URL' }]);
      const proxy = new TrafficProxy(config, realClock, serviceToken());
      const tap = new HttpTap(proxy, { interface: o.interface, port, ringBytes: o.ringMb << 20, windowMs: o.windowMs });
      try {
        await tap.start();
      } catch (err) {
        await proxy.close(0);
        throw err;
      }
      const app = await serveAdmin(proxy, async (v1) => void v1.get('/tap', async () => tap.stats));
      log.info({ interface: o.interface, port, admin: config.admin, routes: config.routes.map((r) => r.name) }, 'http-tap capturing');
      runUntilSignal(async () => {
        await Promise.all([tap.close(), app.close()]);
        await proxy.close(0);
        process.stdout.write(JSON.stringify({ tap: tap.stats }) + '\n');
      });
    });
}
