/**
 * Runs the tier-replay subcommand on its own (the same module `shadowplane tier-replay` registers),
 * so the benchmark works even before the main entry lists it: `npx tsx bench/volumes/cli-entry.ts tier-replay ...`.
 */
import { Command } from 'commander';
import { reportCliError } from '../../src/cli/common.js';
import * as tierReplay from '../../src/cli/tier-replay.js';

const program = new Command('shadowplane');
tierReplay.register(program);
program.parseAsync(process.argv).catch((err: unknown) => {
  reportCliError(err);
  process.exitCode = 1;
});
