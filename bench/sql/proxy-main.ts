/**
 * The `pg-proxy` and `pg-tap` subcommands on their own, for benchmarks and tests that must not depend on the
 * other subcommands being built: `node --import tsx bench/sql/proxy-main.ts pg-proxy|pg-tap ...`.
 */
import { Command } from 'commander';
import { register } from '../../src/cli/pg-proxy.js';
import { register as registerTap } from '../../src/cli/pg-tap.js';
import { reportCliError } from '../../src/cli/common.js';

const program = new Command('shadowplane');
register(program);
registerTap(program);
program.parseAsync(process.argv).catch((err: unknown) => {
  reportCliError(err);
  process.exitCode = 1;
});
