/**
 * wrk side by side, in one run: straight to an HTTP upstream, straight to it with `shadowplane
 * http-tap` capturing its port on `lo`, and through `shadowplane proxy`. Tap and proxy run with
 * the same flags: telemetry at --sample-rate to a local receiver, mirroring of --mirror-fraction of
 * reads to a shadow (compared). Runs are interleaved; the tap process runs only during its own
 * runs. Prints medians of req/s, p99 and CPU ms per 1000 requests of the middle process, each mode's
 * req/s over direct's in the same round (median and 95 % bootstrap interval) and the tap's counters
 * (kernel drops, gaps). Every run starts after the same 2 s pause.
 *
 *   npx tsx bench/traffic/tap-wrk.ts [--runs 5] [--seconds 5] [--rate 0.01] [--connections 20]
 *
 * Needs wrk (Debian package wrk) and CAP_NET_RAW. Ports 18380-18385.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { loadavg, cpus } from 'node:os';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { backendCpuSeconds } from '../../src/shadows/sql/workload.js';
import { median, pairedRatio, waitPort } from '../util.js';

const exec = promisify(execFile);
const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const RUNS = arg('runs', 5);
const SECONDS = arg('seconds', 5);
const RATE = arg('rate', 0.01);
const CONNECTIONS = arg('connections', 20);
const [PRIMARY, SHADOW, PROXY, ADMIN, TAP_ADMIN, CONTROL] = [18380, 18381, 18382, 18383, 18384, 18385];

const here = (f: string): string => fileURLToPath(new URL(f, import.meta.url));
const node = (script: string, ...args: string[]): ChildProcess =>
  spawn(process.execPath, ['--import', 'tsx', here(script), ...args], { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, SHADOWPLANE_LOG_LEVEL: 'error' } });

/** req/s and p99 (ms) of one wrk run, and the CPU ms per 1000 requests of `pid`. */
async function wrk(port: number, pid?: number): Promise<{ rps: number; p99: number; cpu: number | null }> {
  const c0 = pid ? await backendCpuSeconds([pid]) : null;
  const { stdout } = await exec('wrk', ['-t2', `-c${CONNECTIONS}`, `-d${SECONDS}s`, '--latency', `http://127.0.0.1:${port}/orders/42`]);
  const c1 = pid ? await backendCpuSeconds([pid]) : null;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]);
  const total = Number(/(\d+) requests in/.exec(stdout)?.[1]);
  const p = /\s99%\s+([\d.]+)(us|ms|s)/.exec(stdout);
  const p99 = p ? Number(p[1]) * (p[2] === 'us' ? 0.001 : p[2] === 's' ? 1000 : 1) : NaN;
  return { rps, p99, cpu: c0 === null || c1 === null ? null : ((c1 - c0) * 1e6) / total };
}

const PAUSE_MS = 2000;
const pause = (): Promise<void> => new Promise((r) => setTimeout(r, PAUSE_MS));

async function main(): Promise<void> {
  let events = 0;
  const control = http.createServer((req, res) => {
    req.on('data', (c: Buffer) => { for (const b of c) if (b === 10) events++; });
    req.on('end', () => res.writeHead(202).end());
  });
  await new Promise<void>((r) => control.listen(CONTROL, '127.0.0.1', r));
  const primary = node('./fault-upstream.ts', String(PRIMARY), 'primary');
  const shadow = node('./fault-upstream.ts', String(SHADOW), 'shadow');
  const flags = ['--primary', `http://127.0.0.1:${PRIMARY}`, '--shadow', `http://127.0.0.1:${SHADOW}`, '--mirror-fraction', String(RATE),
    '--control', `http://127.0.0.1:${CONTROL}`, '--target', 'bench', '--sample-rate', String(RATE)];
  const proxy = node('./proxy-cli.ts', 'proxy', '--listen', `127.0.0.1:${PROXY}`, '--admin', `127.0.0.1:${ADMIN}`, ...flags);
  const loadBefore = loadavg().map((x) => +x.toFixed(1));
  const result: Record<string, { rps: number[]; p99: number[]; cpu: number[] }> = {};
  const tapCounts: unknown[] = [];
  try {
    await Promise.all([waitPort(PRIMARY), waitPort(SHADOW), waitPort(PROXY)]);
    for (const m of ['direct', `http-tap ${RATE * 100} %`, `proxy ${RATE * 100} %`]) result[m] = { rps: [], p99: [], cpu: [] };
    for (let r = 0; r < RUNS; r++) {
      for (const m of Object.keys(result)) {
        const tap = m.startsWith('http-tap') ? node('./proxy-cli.ts', 'http-tap', '--interface', 'lo', '--admin', `127.0.0.1:${TAP_ADMIN}`, ...flags) : undefined;
        let out = '';
        tap?.stdout!.on('data', (d) => (out += d));
        if (tap) await waitPort(TAP_ADMIN);
        await pause(); // every mode alike, so the tap's runs are not the only ones after an idle moment
        const x = await wrk(m.startsWith('proxy') ? PROXY : PRIMARY, tap?.pid ?? (m.startsWith('proxy') ? proxy.pid : undefined));
        if (tap) {
          tap.kill('SIGINT');
          await new Promise((done) => tap.once('exit', done));
          tapCounts.push(JSON.parse(out.trim()).tap);
        }
        result[m].rps.push(x.rps);
        result[m].p99.push(x.p99);
        if (x.cpu !== null) result[m].cpu.push(x.cpu);
      }
    }
  } finally {
    for (const p of [primary, shadow, proxy]) p.kill('SIGKILL');
    control.close();
  }
  const direct = median(result.direct.rps);
  const lines = ['| mode | req/s | / direct | / direct, median of rounds [95 % interval] | p99 ms | CPU ms / 1000 req of the middle process |', '|---|---|---|---|---|---|'];
  const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
  for (const [m, v] of Object.entries(result)) {
    const paired = pairedRatio(v.rps, result.direct.rps);
    lines.push(`| ${m} | ${median(v.rps).toFixed(0)} | ${pct(median(v.rps) / direct)} | ${pct(paired.median)} [${pct(paired.low)}, ${pct(paired.high)}] | ${median(v.p99).toFixed(2)} | ${v.cpu.length ? median(v.cpu).toFixed(1) : '—'} |`);
  }
  const summary = {
    runs: RUNS, seconds: SECONDS, rate: RATE, connections: CONNECTIONS, cpus: cpus().length, loadBefore, loadAfter: loadavg().map((x) => +x.toFixed(1)),
    result, eventsReceived: events, tapCounts,
  };
  process.stdout.write(JSON.stringify(summary, null, 1) + '\n\n' + lines.join('\n') + '\n');
}

main().catch((err) => { console.error(err); process.exitCode = 1; });
