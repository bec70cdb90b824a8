#!/usr/bin/env node
/**
 * The `shadowplane` command. Each subcommand lives in its own module under src/cli/ and exports
 * `register(program)`; this file only lists them.
 */
import { Command } from 'commander';
import { VERSION } from '../core/version.js';
import { reportCliError } from './common.js';
import * as replay from './replay.js';
import * as serve from './serve.js';
import * as forecast from './forecast.js';
import * as config from './config.js';
import * as pgProxy from './pg-proxy.js';
import * as pgTap from './pg-tap.js';
import * as proxy from './proxy.js';
import * as tierReplay from './tier-replay.js';
import * as volume from './volume.js';
import * as detect from './detect.js';
import * as stream from './stream.js';
import * as streamBench from './stream-bench.js';
import * as decisions from './decisions.js';

const program = new Command('shadowplane')
  .description('A control plane that keeps a shadow of every data system it manages and acts before trouble arrives.')
  .version(VERSION);

for (const command of [serve, config, pgProxy, pgTap, proxy, replay, forecast, tierReplay, volume, detect, stream, streamBench, decisions]) command.register(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  reportCliError(err);
  process.exit(process.exitCode || 1);
});
