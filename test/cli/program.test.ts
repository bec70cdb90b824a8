import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/program.js';
import { PACKAGE_ROOT } from '../../src/core/version.js';
import { cli } from '../helpers/cli.js';

function* commands(cmd: Command): Generator<Command> {
  yield cmd;
  for (const sub of cmd.commands) yield* commands(sub);
}

test('every help page prints defaults as they are typed, never as JavaScript values', () => {
  const pages = [...commands(buildProgram())].map((c) => c.helpInformation());
  assert.ok(pages.length > 20);
  const raw = pages.flatMap((p) => p.replace(/\n\s+/g, ' ').match(/default: ["{[][^)]*\)/g) ?? []);
  assert.deepEqual(raw, []);
  const all = pages.join('\n').replace(/\n\s+/g, ' ');
  assert.match(all, /--listen <host:port> .*\(default: 127\.0\.0\.1:7080\)/);
  assert.match(all, /--level <percents> +interval levels \(default: 80,95\)/);
});

test('config check counts the demo targets the demo file runs', () => {
  const out = execFileSync(process.execPath, cli('config', 'check', 'examples/demo.yaml'), { cwd: PACKAGE_ROOT, encoding: 'utf8' });
  assert.equal(out, 'examples/demo.yaml: valid (2 targets, with the demo targets "demo" and "demo-api", store: sqlite)\n');
});
