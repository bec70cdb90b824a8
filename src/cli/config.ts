/** `shadowplane config check FILE` and `shadowplane config docs`. */
import type { Command } from 'commander';
import { ConfigSchema, loadConfigFile } from '../config.js';
import { configReference } from '../core/config-docs.js';
import { reportCliError } from './common.js';

/** Adds the `config` command group. */
export function register(program: Command): void {
  const config = program.command('config').description('Work with configuration files.');
  config
    .command('check <file>')
    .description('Validate a configuration file; exits 1 and lists every problem by key path when it is not valid.')
    .action((file: string) => {
      try {
        const parsed = loadConfigFile(file);
        process.stdout.write(`${file}: valid (${parsed.targets.length} target${parsed.targets.length === 1 ? '' : 's'}, store: ${parsed.store.backend})\n`);
      } catch (err) {
        reportCliError(err);
        process.exitCode = 1;
      }
    });
  config
    .command('docs')
    .description('Print the Markdown reference of every configuration key (docs/config.md).')
    .action(() => {
      process.stdout.write(configReference(ConfigSchema));
    });
}
