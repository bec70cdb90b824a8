/**
 * What the executor and actuators add on top of the bare primitives, side by side in one run:
 * a raw fetch POST vs WebhookActuator.apply vs Executor (submit -> done) with the webhook, against
 * one local node:http server; and a raw spawn of `true` vs CommandActuator.apply.
 * Run: npx tsx bench/exec/overhead.ts [iterations]   (prints medians and ratios)
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { realClock } from '../../src/core/clock.js';
import type { Action } from '../../src/model/action.js';
import { CommandActuator } from '../../src/exec/command.js';
import { parseActuatorConfig, type CommandConfig, type WebhookConfig } from '../../src/exec/config.js';
import { Executor } from '../../src/exec/executor.js';
import { WebhookActuator } from '../../src/exec/webhook.js';
import { logger } from '../../src/obs/log.js';

const N = Number(process.argv[2] ?? 400);
let seq = 0;
const action = (): Action => ({ id: `b${++seq}`, target: `t${seq}`, kind: 'scale', from: 1, to: 2, reason: 'Bench', mode: 'manual', idempotencyKey: `k${seq}`, createdAt: 0 });

/** Runs the variants interleaved (round-robin, so machine noise hits all alike); prints medians. */
async function compare(n: number, variants: [string, () => Promise<unknown>][]): Promise<number[]> {
  const times = variants.map(() => [] as number[]);
  for (let i = 0; i < n + 10; i++) {
    for (const [k, [, fn]] of variants.entries()) {
      const t0 = process.hrtime.bigint();
      await fn();
      if (i >= 10) times[k].push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  return variants.map(([label], k) => {
    const sorted = times[k].sort((a, b) => a - b);
    const m = sorted[Math.floor(sorted.length / 2)];
    console.log(`${label.padEnd(34)} median ${m.toFixed(3)} ms  (n=${n})`);
    return m;
  });
}

const server = createServer((req, res) => {
  req.resume().on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"applied":true,"capacity":2}');
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
const hook = new WebhookActuator(parseActuatorConfig({ type: 'webhook', url }) as WebhookConfig);
const executor = new Executor({ clock: realClock, log: logger('exec'), actuatorFor: () => hook, settings: { maxPerTarget: 1, maxConcurrent: 1 } });
const signal = new AbortController().signal;

const [raw, web, exe] = await compare(N, [
  ['raw fetch POST', async () => {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(action()) });
    await res.json();
  }],
  ['WebhookActuator.apply', () => hook.apply(action(), signal)],
  ['Executor + webhook (submit->done)', async () => {
    const s = executor.submit(action());
    if (!s.accepted) throw new Error(s.message);
    await s.done;
  }],
]);
console.log(`ratios: webhook/raw ${(web / raw).toFixed(2)}, executor/raw ${(exe / raw).toFixed(2)}`);
server.close();
server.closeAllConnections();

const cmd = new CommandActuator(parseActuatorConfig({ type: 'command', command: 'true' }) as CommandConfig);
const [rawSpawn, cmdApply] = await compare(Math.max(20, Math.floor(N / 8)), [
  ['raw spawn `true`', () => new Promise((r) => spawn('true', [], { stdio: 'ignore' }).on('close', r))],
  ['CommandActuator.apply `true`', () => cmd.apply(action(), signal)],
]);
console.log(`ratio: command/raw spawn ${(cmdApply / rawSpawn).toFixed(2)}`);
