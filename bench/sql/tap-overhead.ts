/**
 * What running `shadowplane pg-tap` beside a PostgreSQL server costs its clients, decided by pairs:
 * each pair is one pgbench run straight to the server with no tap and one with the tap capturing
 * the port on `lo`, back to back, their order alternating pair by pair. The answer is the median of
 * the per-pair TPS ratios with a 95 % bootstrap interval: on a shared 2-core machine single runs of
 * the same mode spread by ±10 %, so one interleaved median per mode cannot tell 95 % from 99 %.
 *
 *   npx tsx bench/sql/tap-overhead.ts [--pairs 30] [--seconds 5] [--rate 0.01] [--window-ms N]
 *     [--warmup 3] [--scale 10] [--tpcb]
 *
 * The tap is started for each of its runs (it sees every session on the port), so each of its runs
 * would otherwise meet a fresh process: its first window compiles the code that handles queries
 * (V8's tiers, the parser's WebAssembly), a cost a tap pays once in its life, not per window. So
 * before every measured run, in both modes, pgbench runs `--warmup` seconds unmeasured, with the
 * tap (in its mode) capturing at 100 % (`PUT /v1/rates`) and then set back to `--rate`; the
 * measured run follows at once. The tap's CPU is counted over the measured run only.
 * Per pair it also reads the tap's counters over the measured run (`GET /v1/status`): kernel drops
 * and gaps must stay 0.
 * Select-only (-S) by default, `--tpcb` for the TPC-B-like script; 10 clients, 2 threads.
 *
 * Needs PostgreSQL at 127.0.0.1:5432 (trust), pgbench (Debian postgresql-contrib) and CAP_NET_RAW.
 */
import { execFile, spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { backendCpuSeconds } from '../../src/shadows/sql/workload.js';
import { median, pairedRatio, waitPort } from '../util.js';

const exec = promisify(execFile);
const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const PAIRS = arg('pairs', 30);
const SECONDS = arg('seconds', 5);
const RATE = arg('rate', 0.01);
const WINDOW_MS = arg('window-ms', -1);
const WARMUP_S = arg('warmup', 3);
const SCALE = arg('scale', 10);
const SCRIPT = process.argv.includes('--tpcb') ? [] : ['-S'];
const DB = 'sp_sql_tap_overhead';
const ADMIN_PORT = 6477;

const psql = (sql: string): Promise<unknown> => exec('psql', ['-X', '-q', '-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres', '-c', sql]);

/** One pgbench run of `seconds`: its TPS and the number of transactions. */
async function pgbench(seconds = SECONDS): Promise<{ tps: number; transactions: number }> {
  const { stdout } = await exec('pgbench', ['-h', '127.0.0.1', '-U', 'postgres', '-c', '10', '-j', '2', '-T', String(seconds), '-n', ...SCRIPT, DB]);
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout);
  const n = /number of transactions actually processed: (\d+)/.exec(stdout);
  if (!tps || !n) throw new Error(`no tps in pgbench output: ${stdout}`);
  return { tps: Number(tps[1]), transactions: Number(n[1]) };
}

/** Sets the running tap's telemetry rate. */
async function setTapRate(rate: number): Promise<void> {
  const res = await fetch(`http://127.0.0.1:${ADMIN_PORT}/v1/rates`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ sampleRate: rate }) });
  if (!res.ok) throw new Error(`PUT /v1/rates: ${res.status} ${await res.text()}`);
}

/** The tap's counters that say what it missed. */
interface TapMisses { kernelDrops: number; gaps: number; windows: number; sampled: number }

/** The running tap's counters now. */
async function tapMisses(): Promise<TapMisses> {
  const status = await (await fetch(`http://127.0.0.1:${ADMIN_PORT}/v1/status`)).json() as { proxy: TapMisses };
  const { kernelDrops, gaps, windows, sampled } = status.proxy;
  return { kernelDrops, gaps, windows, sampled };
}

/** One pgbench run with the tap capturing: TPS, the tap's CPU ms per 1,000 transactions, its counters. */
async function withTap(): Promise<{ tps: number; cpuMsPerKtx: number; misses: TapMisses }> {
  const flags = ['--interface', 'lo', '--port', '5432', '--sample-rate', String(RATE), '--admin', `127.0.0.1:${ADMIN_PORT}`];
  if (WINDOW_MS >= 0) flags.push('--window-ms', String(WINDOW_MS));
  const tap = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./proxy-main.ts', import.meta.url)), 'pg-tap', ...flags],
    { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, SHADOWPLANE_LOG_LEVEL: 'error' } });
  try {
    await waitPort(ADMIN_PORT);
    await setTapRate(1);
    await pgbench(WARMUP_S);
    await setTapRate(RATE);
    const before = await tapMisses();
    const cpu0 = await backendCpuSeconds([tap.pid!]);
    const run = await pgbench();
    const cpu1 = await backendCpuSeconds([tap.pid!]);
    const after = await tapMisses();
    const misses = { kernelDrops: 0, gaps: 0, windows: 0, sampled: 0 };
    for (const k of Object.keys(misses) as (keyof TapMisses)[]) misses[k] = after[k] - before[k];
    return { tps: run.tps, cpuMsPerKtx: ((cpu1! - cpu0!) * 1000) / (run.transactions / 1000), misses };
  } finally {
    tap.kill('SIGINT');
    await new Promise((done) => (tap.exitCode === null ? tap.once('exit', done) : done(undefined)));
  }
}

async function main(): Promise<void> {
  await psql(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  await psql(`CREATE DATABASE ${DB}`);
  await exec('pgbench', ['-i', '-q', '-s', String(SCALE), '-h', '127.0.0.1', '-U', 'postgres', DB]);
  const loadBefore = loadavg()[0];
  const direct: number[] = [];
  const tapped: number[] = [];
  const tapCpu: number[] = [];
  const misses: TapMisses = { kernelDrops: 0, gaps: 0, windows: 0, sampled: 0 };
  try {
    for (let p = 0; p < PAIRS; p++) {
      const tapFirst = p % 2 === 1;
      const t = tapFirst ? await withTap() : undefined;
      await pgbench(WARMUP_S);
      const d = await pgbench();
      const t2 = t ?? await withTap();
      direct.push(d.tps);
      tapped.push(t2.tps);
      tapCpu.push(t2.cpuMsPerKtx);
      for (const k of Object.keys(misses) as (keyof TapMisses)[]) misses[k] += t2.misses[k];
      process.stderr.write(`pair ${p + 1}/${PAIRS}${tapFirst ? ' (tap first)' : ''}: direct ${d.tps.toFixed(0)}, tap ${t2.tps.toFixed(0)} TPS (${(t2.tps / d.tps * 100).toFixed(1)} %), tap CPU ${t2.cpuMsPerKtx.toFixed(2)} ms / 1000 tx\n`);
    }
  } finally {
    await psql(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  }
  const ratio = pairedRatio(tapped, direct);
  const result = {
    script: SCRIPT.length ? 'select-only (-S)' : 'TPC-B-like', pairs: PAIRS, seconds: SECONDS, rate: RATE, windowMs: WINDOW_MS >= 0 ? WINDOW_MS : 'default',
    loadBefore, loadAfter: loadavg()[0], direct, tapped, tapCpuMsPerKtx: tapCpu, ratio, tapCounters: misses,
  };
  const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
  process.stdout.write(`${JSON.stringify(result)}\n\n`
    + '| script | pairs × s | direct TPS (median) | tap TPS (median) | tap / direct, median of pairs [95 % interval] | tap CPU ms / 1000 tx | kernel drops, gaps |\n|---|---|--:|--:|---|--:|---|\n'
    + `| ${result.script} | ${PAIRS} × ${SECONDS} | ${median(direct).toFixed(0)} | ${median(tapped).toFixed(0)} | ${pct(ratio.median)} [${pct(ratio.low)}, ${pct(ratio.high)}] | ${median(tapCpu).toFixed(2)} | ${misses.kernelDrops}, ${misses.gaps} |\n`);
}

main().catch((err) => { console.error(err); process.exitCode = 1; });
