/** `shadowplane serve`: run the service until SIGINT or SIGTERM, then flush and stop. */
import { createServer } from 'node:net';
import type { Command } from 'commander';
import { resolveConfig, type Config } from '../config.js';
import { ShadowplaneError } from '../core/errors.js';
import { ShadowplaneService } from '../service.js';
import { positiveInt } from './common.js';
import { runUntilSignal } from './shutdown.js';

const LEASE_LOST = 'lease lost';

/** The error for an address the service cannot listen on, saying how to pick another port. */
function listenError(host: string, port: number, err: NodeJS.ErrnoException): ShadowplaneError {
  const why = err.code === 'EADDRINUSE' ? 'the port is in use by another process' : err.code === 'EACCES' ? 'the port needs privileges' : err.message;
  return new ShadowplaneError('SHADOWPLANE_ERR_LISTEN', `cannot listen on ${host}:${port}: ${why}. Pick another port with --port N (npm start -- --port N) or server.port in the config`, [
    { path: 'server.port', message: `${port} is not available (${err.code ?? err.message})` },
  ]);
}

/**
 * Fails with SHADOWPLANE_ERR_LISTEN when the API address cannot be bound, before anything else
 * (the Shadow Store above all) is opened; the probe is released at once for the service to take.
 */
async function checkListen(host: string, port: number): Promise<void> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', (err: NodeJS.ErrnoException) => reject(listenError(host, port, err)));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** What a person sees once the service is up: where to look, and what comes next. */
function readyLine(address: string, config: Config): string {
  const next = config.demo.enabled ? 'the demo target\'s first decision comes in about a minute' : `the API is described at ${address}/openapi.json`;
  return `dashboard: ${address}/ — ${next} (stop with Ctrl-C)\n`;
}

/** Adds the `serve` command. */
export function register(program: Command): void {
  program
    .command('serve')
    .description('Run the Shadowplane service (HTTP API on 127.0.0.1:7070 and an SQLite Shadow Store under ./data by default).')
    .option('-c, --config <file>', 'YAML configuration file (default: ./shadowplane.yaml when present)')
    .option('-p, --port <n>', 'HTTP port (overrides server.port)', (v) => (v === '0' ? 0 : positiveInt(v)))
    .option('-d, --data-dir <dir>', 'data directory (overrides store.dataDir)')
    .action(async (opts: { config?: string; port?: number; dataDir?: string }) => {
      const config = resolveConfig(opts.config);
      if (opts.port !== undefined) config.server.port = opts.port;
      if (opts.dataDir !== undefined) config.store.dataDir = opts.dataDir;
      if (config.server.port !== 0) await checkListen(config.server.host, config.server.port);
      const service = await ShadowplaneService.create(config);
      if (service.standby) process.stderr.write(`${service.standby}; it takes over when that lease lapses\n`);
      let address: string;
      try {
        address = await service.start();
      } catch (err) {
        await service.stop();
        throw (err as NodeJS.ErrnoException).code ? listenError(config.server.host, config.server.port, err as NodeJS.ErrnoException) : err;
      }
      const running = runUntilSignal(async (reason) => {
        if (reason !== LEASE_LOST) process.stderr.write(`${reason}: flushing and stopping\n`);
        const report = await service.stop();
        if (report.spilled) {
          const { path, windows, error } = report.spilled;
          process.stderr.write(`the store could not be written (${error}): ${windows} windows are kept in ${path}; the next start writes them\n`);
        }
      });
      service.onLeaseLost = (reason) => {
        process.stderr.write(`lost the store's lease (${reason}): another instance may own the store now; stopping so a supervisor restarts this one as a standby\n`);
        running.stop(LEASE_LOST, 1);
      };
      // Only once the handlers are in place: whoever reads these lines may stop the service at once.
      process.stderr.write(`shadowplane listening on ${address} (store: ${config.store.backend}${config.store.backend === 'sqlite' ? ` in ${config.store.dataDir}` : ''})\n`);
      process.stderr.write(readyLine(address, config));
    });
}
