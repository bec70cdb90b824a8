/**
 * The `shadowplane` command tree. Each subcommand lives in its own module under src/cli/ and
 * exports `register(program)`; this file only lists them (main.ts runs the tree).
 */
import { Command, type Option } from 'commander';
import { VERSION } from '../core/version.js';
import { LOG_FORMATS, setLogFormat, type LogFormat } from '../obs/log.js';
import { oneOf } from './common.js';
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
import * as historyImport from './import.js';
import * as capacity from './capacity.js';

/** A default as a person writes it on the command line: `127.0.0.1:7080`, `80,95`, `auto`. */
function plain(value: unknown): string {
  if (Array.isArray(value)) return value.map(plain).join(',');
  if (value && typeof value === 'object' && 'host' in value && 'port' in value) return `${String(value.host)}:${String(value.port)}`;
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

/** Gives every option with a default and no description of it the plain form (commander prints JSON). */
function describeDefaults(cmd: Command): void {
  for (const option of cmd.options as Option[]) {
    if (option.defaultValue !== undefined && option.defaultValueDescription === undefined) option.defaultValueDescription = plain(option.defaultValue);
  }
  for (const sub of cmd.commands) describeDefaults(sub);
}

/** Builds the whole command tree (not parsed yet). */
export function buildProgram(): Command {
  const program = new Command('shadowplane')
    .description('A control plane that keeps a shadow of every data system it manages and acts before trouble arrives.')
    .version(VERSION)
    .option('--log-format <format>', 'log lines on stderr: human, json, or auto (human on a terminal, JSON otherwise; also SHADOWPLANE_LOG_FORMAT)', oneOf(LOG_FORMATS))
    .hook('preAction', (cmd) => {
      const format = cmd.opts<{ logFormat?: LogFormat }>().logFormat;
      if (format) setLogFormat(format);
    });
  const commands = [
    serve, config, pgProxy, pgTap, proxy, replay, forecast, tierReplay, volume, detect, stream, streamBench, decisions, historyImport, capacity,
  ];
  for (const command of commands) command.register(program);
  describeDefaults(program);
  return program;
}
