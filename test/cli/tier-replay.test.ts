import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../src/core/version.js';
import { Command } from 'commander';
import { register } from '../../src/cli/tier-replay.js';

// The excerpts live beside the test sources (tsc copies no CSV into dist/).
const FIXTURES = join(PACKAGE_ROOT, 'test', 'shadows', 'volumes', 'fixtures');

/** Runs `tier-replay` in-process and returns what it printed. */
async function run(args: string[]): Promise<string> {
  const program = new Command('shadowplane').exitOverride().configureOutput({ writeErr: () => {}, writeOut: () => {} });
  register(program);
  let out = '';
  const write = process.stdout.write.bind(process.stdout);
  // Only the command's text is kept: the test runner reports on the same stream in binary frames.
  process.stdout.write = ((chunk: unknown) => (typeof chunk === 'string' ? (out += chunk) : write(chunk as Uint8Array), true)) as typeof process.stdout.write;
  try {
    await program.parseAsync(['node', 'shadowplane', 'tier-replay', ...args]);
  } finally {
    process.stdout.write = write;
  }
  return out;
}

test('tier-replay names the unit it used in every result, io by default', async () => {
  const trace = ['--trace', join(FIXTURES, 'cloudPhysicsIO-excerpt.csv'), '--format', 'cloudphysics', '--fast-blocks', '2000', '--policy', 'arc,arc-ra'];
  const io = (await run([...trace, '--json'])).trim().split('\n').map((l) => JSON.parse(l) as { unit: string; policy: string; requests: number });
  assert.deepEqual(io.map((r) => [r.policy, r.unit, r.requests]), [['arc', 'io', 3000], ['arc-ra', 'io', 3000]]);
  const table = await run([...trace, '--unit', 'block']);
  assert.match(table.split('\n')[0], /policy\s+unit\s+fast-blocks/);
  assert.match(table.split('\n')[1], /^\s*arc\s+block\s+2000\s+3000\s/);
});

test('tier-replay rejects an unknown unit, naming the rule', async () => {
  await assert.rejects(
    run(['--trace', 'x', '--format', 'arc', '--fast-blocks', '10', '--unit', 'page']),
    (e: Error) => /unit must be one of io, block/.test(e.message),
  );
});
