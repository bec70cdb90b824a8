/**
 * The `pg-proxy` subcommand on its own, for benchmarks and tests that must not depend on the
 * other subcommands being built: `node --import tsx bench/sql/proxy-main.ts pg-proxy ...`.
 */
import { Command } from 'commander';
import { register } from '../../src/cli/pg-proxy.js';
import { reportCliError } from '../../src/cli/common.js';

const program = new Command('shadowplane');
register(program);
program.parseAsync(process.argv).catch((err: unknown) => {
  reportCliError(err);
  process.exitCode = 1;
});
