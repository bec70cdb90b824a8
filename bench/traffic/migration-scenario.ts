/**
 * Migration scenarios with real processes: two fault-injectable upstreams and the proxy, each its
 * own node process, under a closed-loop keep-alive client load from this process.
 *
 *   degrade:  the primary gets slow, then fails more and more; when the client-side p99 crosses a
 *             threshold (what the control loop's failure-risk trigger does) a migration starts.
 *             Pass: every failed client request is one of the primary's own 503s (none from the
 *             proxy, none from the shadow, no socket errors) and the migration completes.
 *   bad-shadow: a healthy primary, a shadow answering 20 % 503s; the migration must roll back
 *             automatically at its first step.
 *
 * usage: npx tsc -p tsconfig.json && node dist/bench/traffic/migration-scenario.js [degrade|bad-shadow ...]
 * Ports 18181, 18182 (upstreams), 18190 (proxy), 18191 (admin) on 127.0.0.1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { quantile } from '../../src/core/quantile.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const PRIMARY = 18181;
const SHADOW = 18182;
const PROXY = 18190;
const ADMIN = 18191;
const CONCURRENCY = 16;

const children: ChildProcess[] = [];
function start(args: string[]): ChildProcess {
  const c = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, SHADOWPLANE_LOG_LEVEL: 'warn' } });
  children.push(c);
  return c;
}
function stopAll(): Promise<void> {
  return Promise.all(children.splice(0).map((c) => new Promise<void>((r) => {
    if (c.exitCode !== null) return r();
    c.once('exit', () => r());
    c.kill('SIGTERM');
  }))).then(() => undefined);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY + 4 });
function call(port: number, method: string, path: string, body?: unknown): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({ host: '127.0.0.1', port, method, path, agent, headers: data ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {} }, (res) => {
      let t = '';
      res.on('data', (c) => (t += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: t }));
    });
    req.on('error', reject);
    req.end(data);
  });
}
async function waitPort(port: number): Promise<void> {
  for (let i = 0; i < 400; i++) {
    try {
      await call(port, 'GET', '/health');
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`port ${port} not up`);
}
const fault = (port: number, latencyMs: number, errorRate: number) => call(port, 'POST', `/__fault?latencyMs=${latencyMs}&errorRate=${errorRate}`);

interface Sample { t: number; ms: number; status: number; by: string; proxyError: boolean; socketError: boolean }

/** Closed-loop load until `stop()`; every answer recorded. */
function load(t0: number) {
  const samples: Sample[] = [];
  let running = true;
  const loop = async () => {
    while (running) {
      const s = performance.now();
      try {
        const a = await call(PROXY, 'GET', '/orders/1');
        samples.push({ t: s - t0, ms: performance.now() - s, status: a.status, by: String(a.headers['x-served-by'] ?? 'proxy'), proxyError: a.headers['x-shadowplane-error'] !== undefined, socketError: false });
      } catch {
        samples.push({ t: s - t0, ms: performance.now() - s, status: 0, by: 'none', proxyError: false, socketError: true });
      }
    }
  };
  const loops = Array.from({ length: CONCURRENCY }, loop);
  return { samples, stop: async () => { running = false; await Promise.all(loops); } };
}

const p99 = (xs: number[]): number => quantile(xs, 0.99, 0);

async function setup(policy: Record<string, unknown>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sp-mig-'));
  const cfg = join(dir, 'proxy.json');
  writeFileSync(cfg, JSON.stringify({
    listen: `127.0.0.1:${PROXY}`, admin: `127.0.0.1:${ADMIN}`,
    routes: [{
      name: 'orders', primary: `http://127.0.0.1:${PRIMARY}`, shadow: `http://127.0.0.1:${SHADOW}`,
      mirror: { fraction: 0.1 }, migration: policy,
      health: { path: '/health', intervalMs: 500, unhealthyThreshold: 2, healthyThreshold: 2, outlierConsecutiveFailures: 1000 },
    }],
  }));
  start([join(HERE, 'fault-upstream.js'), String(PRIMARY), 'primary']);
  start([join(HERE, 'fault-upstream.js'), String(SHADOW), 'shadow']);
  await Promise.all([waitPort(PRIMARY), waitPort(SHADOW)]);
  start([join(HERE, 'proxy-cli.js'), 'proxy', '--config', cfg]);
  await waitPort(PROXY);
}

interface SideEvidence {
  requests: number;
  errorRate: number;
  p99Ms: number;
}

interface MigrationStep {
  at: number;
  event: string;
  weight: number;
  pass?: boolean;
  reasons?: string[];
  evidence?: { shadow: SideEvidence; primary: SideEvidence };
}

async function migration(): Promise<{ status: string; weight: number; history: MigrationStep[] }> {
  return JSON.parse((await call(ADMIN, 'GET', '/v1/routes/orders/migration')).body);
}

function summarise(name: string, samples: Sample[], mig: Awaited<ReturnType<typeof migration>>, t0: number, extra: Record<string, unknown>) {
  const count = (f: (s: Sample) => boolean) => samples.filter(f).length;
  const result = {
    scenario: name,
    requests: samples.length,
    failed: count((s) => s.status !== 200),
    primaryOwn503: count((s) => s.status === 503 && s.by === 'primary'),
    shadowFailures: count((s) => s.status !== 200 && s.by === 'shadow'),
    proxyGenerated: count((s) => s.proxyError),
    socketErrors: count((s) => s.socketError),
    servedByShadow: count((s) => s.by === 'shadow'),
    migrationStatus: mig.status,
    finalWeight: mig.weight,
    ...extra,
    timeline: mig.history.map((h) => ({
      tSec: +((h.at - t0) / 1000).toFixed(2), event: h.event, weight: h.weight, pass: h.pass, reasons: h.reasons,
      shadow: h.evidence ? `n=${h.evidence.shadow.requests} err=${h.evidence.shadow.errorRate.toFixed(3)} p99=${h.evidence.shadow.p99Ms.toFixed(1)}ms` : undefined,
      primary: h.evidence ? `n=${h.evidence.primary.requests} err=${h.evidence.primary.errorRate.toFixed(3)} p99=${h.evidence.primary.p99Ms.toFixed(1)}ms` : undefined,
    })),
  };
  return result;
}

async function degrade() {
  await setup({ steps: [0.05, 0.25, 0.5, 1], minRequests: 50, minDurationMs: 1500, p99Tolerance: 0.5, p99SlackMs: 10 });
  const t0wall = Date.now();
  const t0 = performance.now();
  const l = load(t0);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await sleep(2000);
  await fault(PRIMARY, 30, 0);
  // The trigger: client-side p99 over the last second above 20 ms (a stand-in for the risk score).
  let startedAt = 0;
  while (!startedAt) {
    await sleep(250);
    const now = performance.now() - t0;
    const recent = l.samples.filter((s) => s.t > now - 1000).map((s) => s.ms);
    if (p99(recent) > 20) {
      const r = await call(ADMIN, 'POST', '/v1/routes/orders/migrations', { reason: 'primary degraded: p99 above 20 ms' });
      if (r.status !== 201) throw new Error(`migration start: ${r.status} ${r.body}`);
      startedAt = now;
    }
  }
  await sleep(1500);
  await fault(PRIMARY, 30, 0.2);
  await sleep(2500);
  await fault(PRIMARY, 60, 0.6);
  const deadline = performance.now() + 60_000;
  let m = await migration();
  while (m.status === 'running' && performance.now() < deadline) {
    await sleep(250);
    m = await migration();
  }
  await sleep(1000);
  await l.stop();
  return summarise('degrade', l.samples, await migration(), t0wall, { migrationStartedSec: +(startedAt / 1000).toFixed(2) });
}

async function badShadow() {
  await setup({ minRequests: 50, minDurationMs: 1000 });
  await fault(SHADOW, 5, 0.2);
  const t0wall = Date.now();
  const t0 = performance.now();
  const l = load(t0);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  await sleep(1500);
  const r = await call(ADMIN, 'POST', '/v1/routes/orders/migrations', { reason: 'manual', policy: { steps: [0.05, 0.25, 0.5, 1] } });
  if (r.status !== 201) throw new Error(`migration start: ${r.status} ${r.body}`);
  const deadline = performance.now() + 60_000;
  let m = await migration();
  while (m.status === 'running' && performance.now() < deadline) {
    await sleep(250);
    m = await migration();
  }
  await sleep(1500);
  await l.stop();
  const s = summarise('bad-shadow', l.samples, await migration(), t0wall, {});
  return { ...s, servedByShadowAfterRollback: l.samples.filter((x) => x.by === 'shadow' && x.t > (m.history.at(-1)!.at - t0wall) + 100).length };
}

const wanted = process.argv.slice(2);
const scenarios: Record<string, () => Promise<unknown>> = { degrade, 'bad-shadow': badShadow };
try {
  for (const name of wanted.length ? wanted : Object.keys(scenarios)) {
    const run = scenarios[name];
    if (!run) throw new Error(`unknown scenario ${name}`);
    const res = await run();
    await stopAll();
    process.stdout.write(JSON.stringify(res, null, 2) + '\n');
  }
} finally {
  await stopAll();
  agent.destroy();
}
