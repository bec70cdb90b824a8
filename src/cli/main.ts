#!/usr/bin/env node
/** The `shadowplane` command: builds the command tree (program.ts) and runs it on the arguments. */
import { buildProgram } from './program.js';
import { reportCliError } from './common.js';

buildProgram().parseAsync(process.argv).catch((err: unknown) => {
  reportCliError(err);
  process.exit(process.exitCode || 1);
});
