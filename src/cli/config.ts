/** `shadowplane config check FILE` and `shadowplane config docs`. */
import type { Command } from 'commander';
import { ConfigSchema, loadConfigFile } from '../config.js';
import { configReference, type FlagsSection } from '../core/config-docs.js';
import { withDemo } from '../demo/feed.js';
import { reportCliError } from './common.js';

/** The shadow components whose flags `config docs` lists (their thresholds are set there). */
const COMPONENT_COMMANDS = [['stream', 'serve'], ['volume', 'serve']] as const;

/** The flags of the shadow components' commands of `program`, for `config docs`. */
export function componentFlags(program: Command): FlagsSection[] {
  return COMPONENT_COMMANDS.flatMap((path) => {
    let cmd: Command | undefined = program;
    for (const name of path) cmd = cmd?.commands.find((c) => c.name() === name);
    if (!cmd) return [];
    const flags = cmd.options.map((o) => ({
      flags: o.flags,
      default: o.defaultValueDescription ?? (o.defaultValue === undefined ? '*unset*' : `\`${String(o.defaultValue)}\``),
      description: o.description,
    }));
    return [{ command: path.join(' '), flags }];
  });
}

/** Adds the `config` command group. */
export function register(program: Command): void {
  const config = program.command('config').description('Work with configuration files.');
  config
    .command('check <file>')
    .description('Validate a configuration file; exits 1 and lists every problem by key path when it is not valid.')
    .action((file: string) => {
      try {
        const parsed = loadConfigFile(file);
        // Count what the service will run: the demo targets are added at start when demo.enabled.
        const targets = withDemo(parsed).targets;
        const added = targets.slice(parsed.targets.length).map((t) => `"${t.name}"`);
        const demo = added.length > 0 ? `, with the demo target${added.length > 1 ? 's' : ''} ${added.join(' and ')}` : '';
        process.stdout.write(`${file}: valid (${targets.length} target${targets.length === 1 ? '' : 's'}${demo}, store: ${parsed.store.backend})\n`);
      } catch (err) {
        reportCliError(err);
        process.exitCode = 1;
      }
    });
  config
    .command('docs')
    .description('Print the Markdown reference of every configuration key (docs/config.md).')
    .action(() => {
      process.stdout.write(configReference(ConfigSchema, componentFlags(program)));
    });
}
