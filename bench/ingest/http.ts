/**
 * HTTP NDJSON ingest, end to end: the real `shadowplane serve` in one process, the load generator
 * in another (keep-alive, 1000 events per request, 4 requests in flight). Beside it, in one run,
 * the rate at which a Node process merely splits and JSON.parses the same NDJSON bodies.
 *
 *   npm run build && node dist/bench/ingest/http.js [seconds=10] [runs=3]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { median } from '../util.js';

const SECONDS = Number(process.argv[2] ?? 10);
const RUNS = Number(process.argv[3] ?? 3);
const PER_REQUEST = 1000;
const IN_FLIGHT = 4;
const here = fileURLToPath(new URL('.', import.meta.url));
const cli = join(here, '../../src/cli/main.js');

/** NDJSON bodies of realistic events, stamped "now" so the service accepts them. */
export function makeBodies(count: number): string[] {
  const bodies: string[] = [];
  for (let b = 0; b < count; b++) {
    const now = Date.now();
    const lines: string[] = [];
    for (let i = 0; i < PER_REQUEST; i++) {
      const k = b * PER_REQUEST + i;
      lines.push(JSON.stringify({ target: 'bench-db', op: k % 5 ? 'read' : 'write', table: `table_${k % 50}`, columns: ['id', `col_${k % 20}`], route: `GET /api/v1/resource_${k % 200}/:id`, user: `user-${k % 5000}`, bytes: 100 + (k % 900), latencyMs: 0.5 + (k % 1000) / 10, requestId: `req-${k}`, at: now }));
    }
    bodies.push(lines.join('\n') + '\n');
  }
  return bodies;
}

/** CPU seconds (user + system) a process has used so far, from /proc. */
function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * Lines per CPU-second of a process doing nothing but split + JSON.parse on the same bodies.
 * Rates are per CPU-second on both sides: on a shared machine wall time measures the neighbours.
 */
function parseOnlyRate(seconds: number): Promise<number> {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const bodies = workerData.bodies; let lines = 0; const end = Date.now() + workerData.seconds * 1000; let sink = 0;
    const c0 = process.cpuUsage();
    while (Date.now() < end) for (const body of bodies) { for (const line of body.split('\\n')) { if (line) { sink += JSON.parse(line).bytes; lines++; } } }
    const c = process.cpuUsage(c0);
    parentPort.postMessage(lines / ((c.user + c.system) / 1e6) + (sink < 0 ? 1 : 0));`;
  return new Promise((resolve, reject) => {
    const worker = new Worker(code, { eval: true, workerData: { bodies: makeBodies(20), seconds } });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

async function startService(dir: string): Promise<{ url: string; pid: number; stop: () => Promise<void> }> {
  writeFileSync(join(dir, 'bench.yaml'), `server: { port: 0, maxEventsPerSecond: 100000000, bodyLimit: 67108864 }\nstore: { dataDir: ${JSON.stringify(join(dir, 'data'))} }\ntargets:\n  - { name: bench-db, kind: database }\n`);
  const child = spawn('node', [cli, 'serve', '--config', join(dir, 'bench.yaml')], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SHADOWPLANE_LOG_LEVEL: 'warn' } });
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
      const m = /listening on (http:\/\/\S+)/.exec(err);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  return { url, pid: child.pid!, stop: () => new Promise((resolve) => { child.once('exit', () => resolve()); child.kill('SIGTERM'); }) };
}

/** Runs the load generator in a separate process for `seconds`; returns events accepted and wall seconds. */
function loadRun(url: string, seconds: number): Promise<{ accepted: number; wall: number }> {
  const code = `
    const http = require('node:http');
    const [url, seconds, perRequest, inFlight] = JSON.parse(process.argv[1]);
    const { makeBodies } = { makeBodies: ${makeBodies.toString().replace('PER_REQUEST', 'perRequest').replace('PER_REQUEST', 'perRequest')} };
    const u = new URL(url + '/v1/events'); const agent = new http.Agent({ keepAlive: true, maxSockets: inFlight });
    let accepted = 0; let bodies = makeBodies(8); let n = 0; const start = Date.now(); const end = start + seconds * 1000;
    const one = () => new Promise((resolve, reject) => { const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', agent, headers: { 'content-type': 'application/x-ndjson' } }, (res) => { let b = ''; res.setEncoding('utf8'); res.on('data', (c) => b += c); res.on('end', () => { if (res.statusCode !== 200) return reject(new Error(res.statusCode + ' ' + b)); accepted += JSON.parse(b).accepted; resolve(); }); }); req.on('error', reject); req.end(bodies[n++ % bodies.length]); });
    const loop = async () => { while (Date.now() < end) { if (n % 400 === 0) bodies = makeBodies(8); await one(); } };
    Promise.all(Array.from({ length: inFlight }, loop)).then(() => { console.log(JSON.stringify({ accepted, wall: (Date.now() - start) / 1000 })); agent.destroy(); }, (e) => { console.error(e.message); process.exit(1); });`;
  return new Promise((resolve, reject) => {
    const child = spawn('node', ['-e', code, JSON.stringify([url, seconds, PER_REQUEST, IN_FLIGHT])], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim()) as { accepted: number; wall: number }) : reject(new Error(`load generator exited ${code}`))));
  });
}

const dir = mkdtempSync(join(tmpdir(), 'sp-bench-http-'));
const http: number[] = [];
const httpWall: number[] = [];
const parse: number[] = [];
try {
  for (let r = 0; r < RUNS; r++) {
    const service = await startService(dir);
    const cpu0 = processCpuSeconds(service.pid);
    const run = await loadRun(service.url, SECONDS);
    http.push(run.accepted / (processCpuSeconds(service.pid) - cpu0));
    httpWall.push(run.accepted / run.wall);
    await service.stop();
    parse.push(await parseOnlyRate(SECONDS));
    process.stderr.write(`run ${r + 1}/${RUNS}: http ${Math.round(http[r])} events per server CPU-second (${Math.round(httpWall[r])}/s wall), parse-only ${Math.round(parse[r])} lines per CPU-second\n`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const h = median(http);
const p = median(parse);
console.log(`HTTP NDJSON ingest (served by shadowplane, load from another process): median ${Math.round(h).toLocaleString('en-US')} events per server CPU-second (${Math.round(median(httpWall)).toLocaleString('en-US')}/s wall)`);
console.log(`split + JSON.parse only, same lines:                                  median ${Math.round(p).toLocaleString('en-US')} lines per CPU-second`);
console.log(`ratio: ${(h / p).toFixed(2)}`);
console.log(JSON.stringify({ bench: 'ingest-http', httpCpuMedian: h, httpWallMedian: median(httpWall), parseCpuMedian: p, ratio: h / p, runs: RUNS, seconds: SECONDS }));
