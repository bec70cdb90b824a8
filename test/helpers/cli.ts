/** The shipped `shadowplane` command, for tests that run it as a process. */
import { fileURLToPath } from 'node:url';

const underTsx = import.meta.url.endsWith('.ts');

/**
 * Arguments for `spawn(process.execPath, cli(...))`: the built dist/src/cli/main.js when the tests
 * run compiled (npm test), src/cli/main.ts through tsx when they run from source.
 */
export function cli(...args: string[]): string[] {
  const main = fileURLToPath(new URL(`../../src/cli/main.${underTsx ? 'ts' : 'js'}`, import.meta.url));
  return [...(underTsx ? ['--import', 'tsx'] : []), main, ...args];
}
