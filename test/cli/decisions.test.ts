/** `shadowplane decisions TARGET` against a real service: a table by default, the records with --json. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import type { DecisionRecord } from '../../src/model/decision.js';
import { testService } from '../helpers/service.js';
import { cli } from '../helpers/cli.js';

const exec = promisify(execFile);
const MIN = 60_000;
const CONTROL = { capacityPerUnit: 10, initialUnits: 2, minWindows: 2, season: '0s', history: '10m', provisioningDelay: '2m', horizon: '10m', scaleUpLookahead: '5m', metric: 'load' };

let env: Awaited<ReturnType<typeof testService>>;
let url: string;
let records: DecisionRecord[];

before(async () => {
  env = await testService({ targets: [{ name: 'shop', kind: 'service', actuator: { type: 'replay', provisioningDelayMs: 2 * MIN }, control: CONTROL }] });
  env.service.controller.start();
  for (const load of [15, 15, 50]) {
    env.service.ingestor.ingestSamples([{ target: 'shop', metric: 'load', at: env.clock.now(), value: load }]);
    env.clock.advance(MIN);
    await env.service.controller.idle();
  }
  records = await env.service.controller.decisions('shop', 10);
  url = await env.service.api.listen({ host: '127.0.0.1', port: 0 });
});
after(() => env.cleanup());

test('decisions prints one table row per decision: time, mode, reason, units, forecast, risk, status', async () => {
  const acted = records.find((d) => d.action);
  assert.ok(acted, 'the load of 50 on 2 units of 10 made the loop act');
  const { stdout } = await exec(process.execPath, cli('decisions', 'shop', '--url', url));
  const lines = stdout.trimEnd().split('\n');
  assert.match(lines[0], /^TIME \(UTC\) +MODE +REASON +UNITS +FORECAST +RISK +STATUS$/);
  assert.equal(lines.length, 1 + records.length);
  const row = lines[1 + records.indexOf(acted)];
  assert.ok(row.startsWith(new Date(acted.at).toISOString().slice(0, 16).replace('T', ' ')), row);
  for (const cell of [acted.action!.mode, acted.reason, `${acted.action!.from} → ${acted.action!.to}`, acted.status]) assert.ok(row.includes(cell), `${cell} in ${row}`);
  assert.ok(lines.length < 10, 'a line per decision, not the records');
});

test('decisions --json gives the full records', async () => {
  const { stdout } = await exec(process.execPath, cli('decisions', 'shop', '--url', url, '--json'));
  const body = JSON.parse(stdout) as { decisions: DecisionRecord[] };
  assert.deepEqual(body.decisions.map((d) => d.id), records.map((d) => d.id));
  assert.ok(body.decisions[0].inputs && 'forecast' in body.decisions[0]);
});

test('an unknown target is 404 TARGET_NOT_FOUND; no service at --url is API_UNREACHABLE, not a store error', async () => {
  await assert.rejects(exec(process.execPath, cli('decisions', 'nope', '--url', url)), (e: { code?: number; stderr?: string }) => e.code === 1 && /SHADOWPLANE_ERR_TARGET_NOT_FOUND: 404: no target is called "nope"/.test(e.stderr ?? ''));
  const closed = url.replace(/:\d+$/, ':9'); // discard port: nothing listens
  await assert.rejects(exec(process.execPath, cli('decisions', 'shop', '--url', closed)), (e: { code?: number; stderr?: string }) => {
    assert.equal(e.code, 1);
    assert.match(e.stderr ?? '', /^error SHADOWPLANE_ERR_API_UNREACHABLE: cannot reach the Shadowplane API at http:\/\/127\.0\.0\.1:9 .*--url/);
    return true;
  });
});

test('target set-actuator / remove-actuator / set-rules take YAML files, validated by the service', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'sp-cli-act-'));
  try {
    await env.service.api.inject({ method: 'POST', url: '/v1/targets', payload: { name: 'api-db', kind: 'database' } });
    writeFileSync(join(dir, 'act.yaml'), 'type: webhook\nurl: http://127.0.0.1:9/scale\n');
    writeFileSync(join(dir, 'bad.yaml'), 'type: webhook\nurl: ftp://nowhere\n');
    writeFileSync(join(dir, 'rules.yaml'), '- name: tell\n  when: { risk: 0.8 }\n  do: { notify: {} }\n');
    const set = JSON.parse((await exec(process.execPath, cli('target', 'set-actuator', 'api-db', join(dir, 'act.yaml'), '--why', 'let it scale', '--url', url))).stdout) as { mode: string };
    assert.equal(set.mode, 'controlled');
    assert.equal((await env.service.controller.view('api-db')).actuator, 'webhook');
    await assert.rejects(exec(process.execPath, cli('target', 'set-actuator', 'api-db', join(dir, 'bad.yaml'), '--why', 'x', '--url', url)), (e: { code?: number; stderr?: string }) => e.code === 1 && /\/body\/actuator\/url/.test(e.stderr ?? ''));
    await assert.rejects(exec(process.execPath, cli('target', 'set-actuator', 'api-db', join(dir, 'missing.yaml'), '--why', 'x', '--url', url)), (e: { code?: number; stderr?: string }) => e.code === 1 && /SHADOWPLANE_ERR_INPUT_FILE: cannot read .*missing\.yaml: ENOENT/.test(e.stderr ?? ''));
    const rules = JSON.parse((await exec(process.execPath, cli('target', 'set-rules', 'api-db', join(dir, 'rules.yaml'), '--why', 'tell us', '--url', url))).stdout) as { rules: { name: string }[] };
    assert.deepEqual(rules.rules.map((r) => r.name), ['tell']);
    const removed = JSON.parse((await exec(process.execPath, cli('target', 'remove-actuator', 'api-db', '--why', 'hand it back', '--url', url))).stdout) as { mode: string };
    assert.equal(removed.mode, 'observe-only');
    const audit = (await env.service.controller.auditTrail('api-db', 10)).map((a) => [a.action, a.why]);
    assert.deepEqual(audit.slice(0, 3), [['remove-actuator', 'hand it back'], ['respond', 'tell us'], ['actuator', 'let it scale']]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
