import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { PACKAGE_ROOT } from '../../src/core/version.js';

/** Text that points outside the repository: a sibling folder, a development machine's home, a document not shipped. */
const OUTSIDE = [/\.\.\/shared\b/, /\bshared\/(data|tools)\//, /\/(work|home|root)\/[\w.-]+\//, /\bDESIGN\.md\b/];
const ROOTS = ['src', 'test', 'bench', 'docs', 'examples', 'README.md', 'package.json', '.ci'];
const TEXT = /\.(ts|js|mjs|md|json|ya?ml|sh|html|css|R)$|^run$/;

function* files(path: string): Generator<string> {
  if (statSync(path).isDirectory()) {
    for (const name of readdirSync(path)) yield* files(join(path, name));
  } else if (TEXT.test(path.split('/').pop()!)) yield path;
}

test('the source, tests, benchmarks and docs point at nothing outside the repository', () => {
  const hits: string[] = [];
  for (const root of ROOTS) {
    for (const file of files(join(PACKAGE_ROOT, root))) {
      if (file.endsWith('standalone.test.ts')) continue; // this file names the patterns
      readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
        if (OUTSIDE.some((re) => re.test(line))) hits.push(`${relative(PACKAGE_ROOT, file)}:${i + 1}: ${line.trim().slice(0, 120)}`);
      });
    }
  }
  assert.deepEqual(hits, []);
});
