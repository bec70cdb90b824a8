import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ERROR_CATALOGUE } from '../../src/core/errors.js';

const root = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/dist\/$/, '/');

test('every error code is documented in docs/errors.md, and every documented code exists', () => {
  const doc = readFileSync(join(root, 'docs/errors.md'), 'utf8');
  const documented = new Set([...doc.matchAll(/^## (SHADOWPLANE_ERR_[A-Z_]+)$/gm)].map((m) => m[1]));
  const codes = Object.keys(ERROR_CATALOGUE);
  assert.deepEqual(codes.filter((c) => !documented.has(c)), [], 'codes missing from docs/errors.md');
  assert.deepEqual([...documented].filter((c) => !codes.includes(c)), [], 'documented codes that do not exist');
});
