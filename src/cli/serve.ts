/** `shadowplane serve`: run the service until SIGINT or SIGTERM, then flush and stop. */
import type { Command } from 'commander';
import { resolveConfig } from '../config.js';
import { ShadowplaneService } from '../service.js';
import { positiveInt } from './common.js';

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
      const service = await ShadowplaneService.create(config);
      if (service.standby) process.stderr.write(`${service.standby}; it takes over when that lease lapses\n`);
      const address = await service.start();
      process.stderr.write(`shadowplane listening on ${address} (store: ${config.store.backend}${config.store.backend === 'sqlite' ? ` in ${config.store.dataDir}` : ''})\n`);
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        process.stderr.write(`${signal}: flushing and stopping\n`);
        service.stop().then(
          (report) => {
            if (report.spilled) {
              const { path, windows, error } = report.spilled;
              process.stderr.write(`the store could not be written (${error}): ${windows} windows are kept in ${path}; the next start writes them\n`);
            }
            process.exit(0);
          },
          (err: unknown) => {
            process.stderr.write(`error while stopping: ${(err as Error).message}\n`);
            process.exit(1);
          },
        );
      };
      service.onLeaseLost = (reason) => {
        process.stderr.write(`lost the store's lease (${reason}): another instance may own the store now; stopping so a supervisor restarts this one as a standby\n`);
        stopping = true;
        service.stop().finally(() => process.exit(1));
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
    });
}
