/** The command actuator against real processes (node, sh). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realClock } from '../../src/core/clock.js';
import { CommandActuator, lastJsonObject } from '../../src/exec/command.js';
import { parseActuatorConfig, type CommandConfig } from '../../src/exec/config.js';
import { Executor } from '../../src/exec/executor.js';
import { action, recordingLog } from './helpers.js';

function command(over: Record<string, unknown>): CommandActuator {
  return new CommandActuator(parseActuatorConfig({ type: 'command', timeoutMs: 10_000, ...over }) as CommandConfig);
}

const signal = (): AbortSignal => new AbortController().signal;

/** True while a process with this pid exists (zombies aside, it goes once it is reaped). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
  return !alive(pid);
}

const ECHO = `
let stdin = '';
process.stdin.setEncoding('utf8').on('data', (c) => (stdin += c)).on('end', () => {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('SHADOWPLANE_') || k === 'EXTRA' || k === 'HOME'));
  console.log('scaling...');
  console.log(JSON.stringify({ capacity: Number(process.env.SHADOWPLANE_ACTION_TO), env, stdin: JSON.parse(stdin) }));
  console.log('done');
});`;

test('exit 0 succeeds; the action arrives in the environment and as JSON on stdin; the last JSON line is the detail', async () => {
  const a = action({ from: 2, to: 7 });
  const outcome = await command({ command: process.execPath, args: ['-e', ECHO], env: { EXTRA: 'x' } }).apply(a, signal());
  assert.equal(outcome.ok, true, outcome.reason);
  assert.equal(outcome.reason, 'exit status 0');
  assert.equal(outcome.capacity, 7);
  const detail = outcome.detail as { env: Record<string, string>; stdin: unknown };
  assert.deepEqual(detail.stdin, a);
  assert.equal(detail.env.SHADOWPLANE_ACTION_KIND, 'scale');
  assert.equal(detail.env.SHADOWPLANE_ACTION_TARGET, a.target);
  assert.equal(detail.env.SHADOWPLANE_ACTION_FROM, '2');
  assert.equal(detail.env.SHADOWPLANE_ACTION_TO, '7');
  assert.equal(detail.env.SHADOWPLANE_ACTION_ID, a.id);
  assert.equal(detail.env.SHADOWPLANE_ACTION_IDEMPOTENCY_KEY, a.idempotencyKey);
  assert.equal(detail.env.SHADOWPLANE_ACTION_MODE, 'proactive');
  assert.equal(detail.env.SHADOWPLANE_ACTION_CREATED_AT, '2026-01-01T00:00:00.000Z');
  assert.equal(detail.env.SHADOWPLANE_PHASE, 'apply');
  assert.equal(detail.env.EXTRA, 'x');
  assert.equal(detail.env.HOME, process.env.HOME);
});

test('inheritEnv=false passes only the action and the configured variables', async () => {
  const outcome = await command({ command: process.execPath, args: ['-e', ECHO], inheritEnv: false, env: { EXTRA: 'y' } }).apply(action(), signal());
  const env = (outcome.detail as { env: Record<string, string> }).env;
  assert.equal(env.HOME, undefined);
  assert.equal(env.EXTRA, 'y');
  assert.ok(env.SHADOWPLANE_ACTION_TO);
});

test('a non-zero exit fails with the status and the end of stderr; 75 (EX_TEMPFAIL) is retryable', async () => {
  const hard = await command({ command: process.execPath, args: ['-e', 'console.error("quota exceeded for db-1"); process.exit(3)'] }).apply(action(), signal());
  assert.equal(hard.ok, false);
  assert.equal(hard.retryable, false);
  assert.equal(hard.reason, 'exit status 3: quota exceeded for db-1');
  const soft = await command({ command: 'sh', args: ['-c', 'exit 75'] }).apply(action(), signal());
  assert.equal(soft.ok, false);
  assert.equal(soft.retryable, true);
  assert.equal(soft.reason, 'exit status 75');
});

test('a timeout kills the whole process group, grandchildren included', async () => {
  // sh starts a background sleep (a grandchild of ours), prints its pid as JSON, then waits.
  const outcome = await command({ command: 'sh', args: ['-c', 'sleep 30 & echo "{\\"bg\\":$!}"; wait'], timeoutMs: 300 }).apply(action(), signal());
  assert.equal(outcome.ok, false);
  assert.equal(outcome.retryable, true);
  assert.match(outcome.reason, /^timed out after 300 ms \(process group sent SIGTERM\)$/);
  const bg = (outcome.detail as { bg: number }).bg;
  assert.ok(Number.isInteger(bg));
  assert.equal(await gone(bg), true, `background sleep ${bg} survived`);
});

test('a process that ignores SIGTERM gets SIGKILL after the grace period', async () => {
  // An ignored signal stays ignored in the shell's children, so neither sh nor sleep heeds SIGTERM.
  const outcome = await command({ command: 'sh', args: ['-c', "trap '' TERM; sleep 30"], timeoutMs: 500, killGraceMs: 300 }).apply(action(), signal());
  assert.equal(outcome.ok, false);
  assert.match(outcome.reason, /timed out after 500 ms \(process group sent SIGKILL\)/);
});

test('a missing binary fails at once without retry; no shell is used unless asked', async () => {
  const missing = await command({ command: '/nonexistent/scale-tool' }).apply(action(), signal());
  assert.equal(missing.ok, false);
  assert.equal(missing.retryable, false);
  assert.equal(missing.reason, 'command not found: /nonexistent/scale-tool');
  // Without a shell, `$VAR` and `;` are plain argument text.
  const literal = await command({ command: 'echo', args: ['{"to":"$SHADOWPLANE_ACTION_TO"}'] }).apply(action({ to: 9 }), signal());
  assert.deepEqual(literal.detail, { to: '$SHADOWPLANE_ACTION_TO' });
  const shell = await command({ command: 'echo "{\\"to\\":$SHADOWPLANE_ACTION_TO}"', shell: true }).apply(action({ to: 9 }), signal());
  assert.deepEqual(shell.detail, { to: 9 });
});

test('a command that ignores stdin is fine, and an abort kills a running command', async () => {
  const quick = await command({ command: 'true' }).apply(action(), signal());
  assert.equal(quick.ok, true);
  const controller = new AbortController();
  const pending = command({ command: 'sleep', args: ['30'] }).apply(action(), controller.signal);
  setTimeout(() => controller.abort(new Error('operator cancelled')), 100);
  const outcome = await pending;
  assert.equal(outcome.ok, false);
  assert.equal(outcome.retryable, false);
  assert.match(outcome.reason, /^cancelled: operator cancelled/);
});

test('through the executor: a retryable exit is retried and a verification miss runs the rollback command', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sp-exec-'));
  try {
    const logFile = join(dir, 'calls.log');
    const marker = join(dir, 'failed-once');
    // Fails with 75 the first time (leaving a marker), succeeds afterwards; logs each call.
    const script = `echo "$SHADOWPLANE_PHASE $SHADOWPLANE_ACTION_FROM $SHADOWPLANE_ACTION_TO" >> "${logFile}"; if [ ! -e "${marker}" ]; then touch "${marker}"; exit 75; fi`;
    const executor = new Executor({
      clock: realClock,
      log: recordingLog().log,
      actuatorFor: () => command({ command: 'sh', args: ['-c', script], rollback: true }),
      observe: async () => 3,
      settings: { backoff: { baseMs: 20 }, verifyDeadlineMs: 200, verifyIntervalMs: 50 },
    });
    const sub = executor.submit(action({ from: 3, to: 8 }));
    assert.ok(sub.accepted);
    const done = await sub.done;
    assert.deepEqual(done.transitions.map((t) => t.to), ['pending', 'running', 'retrying', 'running', 'verifying', 'rolling-back', 'rolled-back']);
    assert.equal(await readFile(logFile, 'utf8'), 'apply 3 8\napply 3 8\nrollback 8 3\n');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('lastJsonObject takes the last line that is a JSON object', () => {
  assert.deepEqual(lastJsonObject('{"a":1}\n{"b":2}\nplain text\n[3]\n{broken\n'), { b: 2 });
  assert.equal(lastJsonObject('no json here\n'), undefined);
});
