import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { configReference } from '../../src/core/config-docs.js';
import { componentFlags } from '../../src/cli/config.js';
import { buildProgram } from '../../src/cli/program.js';
import { ConfigSchema, validateConfig } from '../../src/config.js';
import { durationMs } from '../../src/core/schema.js';
import { configProblems } from '../helpers/config.js';

const root = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/dist\/$/, '/');

test('embedded defaults are complete and valid', () => {
  const config = validateConfig({});
  assert.equal(config.server.host, '127.0.0.1');
  assert.equal(config.server.port, 7070);
  assert.equal(config.store.backend, 'sqlite');
  assert.equal(config.store.dataDir, './data');
  assert.deepEqual(config.store.granularities, ['1m', '5m', '1h']);
  assert.equal(config.targets.length, 0);
});

test('unknown keys and bad values are rejected by key path and rule', () => {
  const got = configProblems({ server: { port: 'x', colour: 'red' }, store: { backend: 'mysql', topK: 0, flushInterval: 'soon' }, targets: [{ name: 'a', kind: 'database', sampling: { rate: 1.5 } }] });
  assert.deepEqual(got, {
    '/server/port': 'must be an integer',
    '/server/colour': 'is not a known key',
    '/store/backend': 'must be one of: sqlite, postgres',
    '/store/topK': 'must be >= 1',
    '/store/flushInterval': 'must be a duration such as 30s, 5m, 1h or 7d',
    '/targets/0/sampling/rate': 'must be a number between 0 and 1',
  });
});

test('rules across fields: granularities divide each other, retention keys exist, names are unique', () => {
  assert.deepEqual(configProblems({ store: { granularities: ['1m', '90s'], retention: { '2m': '1d' } } }), {
    '/store/granularities/1': 'must be a multiple of, and longer than, 1m',
    '/store/retention/2m': 'is not one of the granularities (1m, 90s)',
  });
  assert.deepEqual(configProblems({ store: { granularities: ['2d'], retention: { '2d': '30d' } } }), {
    '/store/granularities/0': 'the finest granularity must be at most 1d (its windows keep an estimate per second)',
  });
  assert.deepEqual(configProblems({ targets: [{ name: 'a', kind: 'service' }, { name: 'a', kind: 'service' }] }), { '/targets/1/name': '"a" is declared twice' });
});

test('durations', () => {
  assert.equal(durationMs('250ms'), 250);
  assert.equal(durationMs('5m'), 300_000);
  assert.equal(durationMs('7d'), 604_800_000);
  assert.throws(() => durationMs('5 minutes'));
});

test('docs/config.md is generated from the schema and up to date', () => {
  assert.equal(readFileSync(join(root, 'docs/config.md'), 'utf8'), configReference(ConfigSchema, componentFlags(buildProgram())), 'run `npm run docs:config`');
});

test('`shadowplane config check` exits 0 on a valid file and 1 listing each problem', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sp-cfg-'));
  const good = join(dir, 'good.yaml');
  const bad = join(dir, 'bad.yaml');
  const broken = join(dir, 'broken.yaml');
  writeFileSync(good, 'targets:\n  - name: orders-db\n    kind: database\n');
  writeFileSync(bad, 'store:\n  topK: -1\nsurprise: 1\n');
  writeFileSync(broken, 'store: [unclosed\n');
  const cli = join(root, 'dist/src/cli/main.js');
  assert.match(execFileSync('node', [cli, 'config', 'check', good], { encoding: 'utf8' }), /valid \(1 target/);
  const failed = spawnSync('node', [cli, 'config', 'check', bad], { encoding: 'utf8' });
  assert.equal(failed.status, 1);
  assert.match(failed.stderr, /SHADOWPLANE_ERR_CONFIG_INVALID/);
  assert.match(failed.stderr, /\/store\/topK: must be >= 1/);
  assert.match(failed.stderr, /\/surprise: is not a known key/);
  const unparsable = spawnSync('node', [cli, 'config', 'check', broken], { encoding: 'utf8' });
  assert.equal(unparsable.status, 1);
  assert.match(unparsable.stderr, /SHADOWPLANE_ERR_CONFIG_UNREADABLE/);
  const missing = spawnSync('node', [cli, 'config', 'check', join(dir, 'none.yaml')], { encoding: 'utf8' });
  assert.match(missing.stderr, /ENOENT/);
});
