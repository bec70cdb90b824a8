#!/usr/bin/env node
/**
 * The `shadowplane` command. Each subcommand lives in its own module under src/cli/ and exports
 * `register(program)`; this file only lists them.
 */
import { Command } from 'commander';
import { createRequire } from 'node:module';
import { reportCliError } from './common.js';
import * as replay from './replay.js';
import * as serve from './serve.js';
import * as forecast from './forecast.js';
import * as config from './config.js';
import * as pgProxy from './pg-proxy.js';
import * as proxy from './proxy.js';

const require = createRequire(import.meta.url);
const { version } = require('../../../package.json') as { version: string };

const program = new Command('shadowplane')
  .description('A control plane that keeps a shadow of every data system it manages and acts before trouble arrives.')
  .version(version);

for (const command of [serve, config, pgProxy, proxy, replay, forecast]) command.register(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  reportCliError(err);
  process.exit(process.exitCode || 1);
});
