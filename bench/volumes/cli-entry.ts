/**
 * Runs the volume subcommands (`tier-replay`, `volume serve`) on their own, the same modules
 * `shadowplane` registers: `npx tsx bench/volumes/cli-entry.ts tier-replay ...`.
 */
import { Command } from 'commander';
import { reportCliError } from '../../src/cli/common.js';
import * as tierReplay from '../../src/cli/tier-replay.js';
import * as volume from '../../src/cli/volume.js';

const program = new Command('shadowplane');
tierReplay.register(program);
volume.register(program);
program.parseAsync(process.argv).catch((err: unknown) => {
  reportCliError(err);
  process.exitCode = 1;
});
