/**
 * Runs only the `forecast` subcommand, with the same code as `shadowplane forecast`
 * (src/cli/forecast.ts), for benchmarks and tests that must not depend on the other subcommands.
 *
 *   npx tsx bench/forecast/cli.ts forecast --input IN.csv --horizon 48 --output OUT.csv
 */
import { Command } from 'commander';
import { reportCliError } from '../../src/cli/common.js';
import * as forecast from '../../src/cli/forecast.js';

const program = new Command('shadowplane');
forecast.register(program);
program.parseAsync(process.argv).catch((err: unknown) => {
  reportCliError(err);
  process.exit(process.exitCode || 1);
});
