/** The package's root and version, from the nearest package.json above this file (works from src/ and dist/). */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

const root = findRoot();

/** The directory holding Shadowplane's package.json: shipped files (examples/data) are found from it. */
export const PACKAGE_ROOT = root ?? process.cwd();

/** Shadowplane's version. */
export const VERSION = root ? (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version : '0.0.0';
