/**
 * A `shadowplane`-like entry with only the `proxy` subcommand, so the benchmark can start the
 * proxy from dist/ without the rest of the CLI: `node dist/bench/traffic/proxy-cli.js proxy ...`.
 * It registers the same module as src/cli/main.ts.
 */
import { Command } from 'commander';
import { reportCliError } from '../../src/cli/common.js';
import * as proxy from '../../src/cli/proxy.js';

const program = new Command('shadowplane');
proxy.register(program);
program.parseAsync(process.argv).catch((err: unknown) => {
  reportCliError(err);
  process.exitCode = 1;
});
