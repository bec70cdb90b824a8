/**
 * pgbench side by side, in one run: directly against PostgreSQL, through `shadowplane pg-proxy`
 * at 1 % sampling (a separate process, as deployed), and through pgbouncer in session mode.
 * Select-only (-S) and the default TPC-B-like script, 10 clients, several short interleaved runs;
 * prints medians and ratios as JSON and a Markdown table.
 *
 *   npx tsx bench/sql/pgbench.ts [--runs 3] [--seconds 8] [--scale 10] [--js] [--baseline PATH] [--floor] [--tap]
 *
 * The pg-proxy peer runs its default engine (native, the C relay). `--js` adds the same proxy with
 * `--engine js` (the node:net relay) as a peer.
 * `--tap` adds pgbench straight to the server with `shadowplane pg-tap` capturing on `lo` at 1 % (in
 * windows, the default), at 1 % continuously (`--window-ms 0`) and at 100 % (a tap process runs only
 * during its own runs, as it sees every session on the port); its
 * CPU is the tap process's, and its final counters (kernel drops, gaps) are kept per run.
 * With --tap every run also reports p99 latency from pgbench's per-transaction log (10 % sampled),
 * every run starts after the same 2 s pause, and each mode's TPS over direct's in the same round is
 * given as a median with a 95 % bootstrap interval (bench/sql/tap-overhead.ts decides the tap's cost
 * with many more pairs).
 * `--floor` adds a bare Node relay (relay-floor.ts) as a peer: the cost of Node's socket path alone.
 * `--baseline` adds a fourth peer: the proxy-main.ts of another checkout (e.g. a `git worktree`
 * of an earlier commit, with node_modules linked), run the same way, to compare builds in one run.
 * The CPU columns (user + system time of the middle process from /proc per 1000 transactions)
 * are the figure to compare on a loaded machine; TPS moves with the other tenants.
 *
 * Needs PostgreSQL at 127.0.0.1:5432 (trust), pgbench and pgbouncer (Debian packages
 * postgresql-contrib, pgbouncer); runs pgbouncer as the postgres OS user.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile, chmod } from 'node:fs/promises';
import { tmpdir, cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import { backendCpuSeconds } from '../../src/shadows/sql/workload.js';
import { median, pairedRatio, waitPort } from '../util.js';

const exec = promisify(execFile);
const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const RUNS = arg('runs', 3);
const SECONDS = arg('seconds', 8);
const SCALE = arg('scale', 10);
const DB = 'sp_sql_test_bench';
const PROXY_PORT = 6471;
const BOUNCER_PORT = 6472;
const BASELINE_PORT = 6473;
const baselineIdx = process.argv.indexOf('--baseline');
const BASELINE = baselineIdx > 0 ? process.argv[baselineIdx + 1] : undefined;
const FLOOR_PORT = 6474;
const FLOOR = process.argv.includes('--floor');
const JS_PORT = 6475;
const JS = process.argv.includes('--js');
const TAP = process.argv.includes('--tap');
const TAP_ADMIN_PORT = 6476;

/**
 * TPS of one pgbench run, the CPU seconds the middle process (if any) used per 1000 transactions,
 * and (with --tap) the p99 latency in ms from a 10 % sample of pgbench's per-transaction log.
 */
async function pgbench(port: number, script: string[], middlePid?: number): Promise<{ tps: number; cpuMsPerKtx: number | null; p99Ms: number | null }> {
  const logDir = TAP ? await mkdtemp(join(tmpdir(), 'sp-pgbench-log-')) : undefined;
  const logFlags = logDir ? ['--log', '--sampling-rate', '0.1', '--log-prefix', join(logDir, 'tx')] : [];
  const cpu0 = middlePid ? await backendCpuSeconds([middlePid]) : null;
  const { stdout } = await exec('pgbench', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-c', '10', '-j', '2', '-T', String(SECONDS), '-n', ...logFlags, ...script, DB]);
  const cpu1 = middlePid ? await backendCpuSeconds([middlePid]) : null;
  const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout);
  const n = /number of transactions actually processed: (\d+)/.exec(stdout);
  if (!m || !n) throw new Error(`no tps in pgbench output: ${stdout}`);
  let p99Ms: number | null = null;
  if (logDir) {
    // Each line: client, transaction, latency in µs, ...
    const latencies: number[] = [];
    for (const f of await readdir(logDir)) for (const line of (await readFile(join(logDir, f), 'utf8')).split('\n')) {
      const us = Number(line.split(' ')[2]);
      if (line && Number.isFinite(us)) latencies.push(us);
    }
    latencies.sort((a, b) => a - b);
    p99Ms = latencies.length ? latencies[Math.floor(latencies.length * 0.99)] / 1000 : null;
    await rm(logDir, { recursive: true, force: true });
  }
  return { tps: Number(m[1]), cpuMsPerKtx: cpu0 === null || cpu1 === null ? null : ((cpu1 - cpu0) * 1000) / (Number(n[1]) / 1000), p99Ms };
}

async function main(): Promise<void> {
  await exec('psql', ['-X', '-q', '-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres', '-c', `DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`, '-c', `CREATE DATABASE ${DB}`]);
  await exec('pgbench', ['-i', '-q', '-s', String(SCALE), '-h', '127.0.0.1', '-U', 'postgres', DB]);

  const loadBefore = loadavg().map((x) => +x.toFixed(1));
  const startProxy = (cli: string, port: number, ...flags: string[]): ChildProcess => spawn(process.execPath, ['--import', 'tsx', cli, 'pg-proxy', '--listen', `127.0.0.1:${port}`,
    '--upstream', `postgres://postgres@127.0.0.1:5432/${DB}`, '--sample-rate', '0.01', ...flags], { stdio: ['ignore', 'pipe', 'ignore'], cwd: dirname(cli) });
  const proxyMain = fileURLToPath(new URL('./proxy-main.ts', import.meta.url));
  const startProxyLike = (cli: string, ...args: string[]): ChildProcess => spawn(process.execPath, ['--import', 'tsx', cli, ...args], { stdio: ['ignore', 'pipe', 'ignore'], cwd: dirname(cli) });
  const proxy = startProxy(proxyMain, PROXY_PORT);
  const jsProxy = JS ? startProxy(proxyMain, JS_PORT, '--engine', 'js') : undefined;
  const baseline = BASELINE ? startProxy(resolve(BASELINE), BASELINE_PORT) : undefined;
  const floor = FLOOR ? spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./relay-floor.ts', import.meta.url)), String(FLOOR_PORT)], { stdio: 'ignore' }) : undefined;
  let proxyOut = '';
  proxy.stdout!.on('data', (d) => (proxyOut += d));

  const dir = await mkdtemp(join(tmpdir(), 'sp-sql-bouncer-'));
  await chmod(dir, 0o777);
  await writeFile(join(dir, 'userlist.txt'), '"postgres" ""\n');
  await writeFile(join(dir, 'pgbouncer.ini'), [
    '[databases]', `${DB} = host=127.0.0.1 port=5432 dbname=${DB}`,
    '[pgbouncer]', 'listen_addr = 127.0.0.1', `listen_port = ${BOUNCER_PORT}`, 'auth_type = trust',
    `auth_file = ${join(dir, 'userlist.txt')}`, 'pool_mode = session', 'max_client_conn = 100', 'default_pool_size = 20',
    `unix_socket_dir = ${dir}`, `logfile = ${join(dir, 'log')}`, `pidfile = ${join(dir, 'pid')}`, '',
  ].join('\n'));
  const bouncer = spawn('runuser', ['-u', 'postgres', '--', 'pgbouncer', join(dir, 'pgbouncer.ini')], { stdio: 'ignore' });

  try {
    await waitPort(PROXY_PORT);
    await waitPort(BOUNCER_PORT);
    if (baseline) await waitPort(BASELINE_PORT);
    const modes: Record<string, number> = { direct: 5432, 'pg-proxy 1%': PROXY_PORT, 'pgbouncer session': BOUNCER_PORT };
    if (baseline) modes['baseline pg-proxy 1%'] = BASELINE_PORT;
    if (floor) { await waitPort(FLOOR_PORT); modes['bare Node relay'] = FLOOR_PORT; }
    if (jsProxy) { await waitPort(JS_PORT); modes['pg-proxy js engine 1%'] = JS_PORT; }
    // The tap at 1 % captures in windows (its default); "continuous" is the same rate with windows off.
    const tapRates: Record<string, string[]> = TAP
      ? { 'pg-tap 1%': ['--sample-rate', '0.01'], 'pg-tap 1% continuous': ['--sample-rate', '0.01', '--window-ms', '0'], 'pg-tap 100%': ['--sample-rate', '1'] }
      : {};
    for (const m of Object.keys(tapRates)) modes[m] = 5432;
    const scripts = { 'select-only (-S)': ['-S'], 'TPC-B-like': [] as string[] } as const;
    const bouncerPid = Number((await readFile(join(dir, 'pid'), 'utf8')).trim());
    const pids: Record<string, number | undefined> = { direct: undefined, 'pg-proxy 1%': proxy.pid, 'pgbouncer session': bouncerPid, 'baseline pg-proxy 1%': baseline?.pid, 'bare Node relay': floor?.pid, 'pg-proxy js engine 1%': jsProxy?.pid };
    const tps: Record<string, Record<string, number[]>> = {};
    const cpu: Record<string, Record<string, number[]>> = {};
    const p99: Record<string, Record<string, number[]>> = {};
    const tapCounts: Record<string, unknown[]> = {};
    for (const s of Object.keys(scripts)) {
      tps[s] = {};
      cpu[s] = {};
      p99[s] = {};
      for (const m of Object.keys(modes)) {
        tps[s][m] = [];
        cpu[s][m] = [];
        p99[s][m] = [];
      }
    }
    // Interleaved so drift in the shared machine's load hits every mode alike.
    for (let r = 0; r < RUNS; r++) {
      for (const [s, flags] of Object.entries(scripts)) {
        for (const [m, port] of Object.entries(modes)) {
          const tap = tapRates[m] ? startProxyLike(proxyMain, 'pg-tap', '--interface', 'lo', '--port', '5432', ...tapRates[m], '--admin', `127.0.0.1:${TAP_ADMIN_PORT}`) : undefined;
          let tapOut = '';
          tap?.stdout!.on('data', (d) => (tapOut += d));
          if (tap) await waitPort(TAP_ADMIN_PORT);
          // With taps, every mode's run starts after the same pause, so the taps' runs are not the only
          // ones that follow their process's start-up and an idle moment.
          if (TAP) await new Promise((done) => setTimeout(done, 2000));
          const r = await pgbench(port, [...flags], tap?.pid ?? pids[m]);
          if (tap) {
            tap.kill('SIGINT');
            await new Promise((done) => tap.once('exit', done));
            (tapCounts[`${s} ${m}`] ??= []).push(JSON.parse(tapOut.trim()).tap);
          }
          tps[s][m].push(r.tps);
          if (r.cpuMsPerKtx !== null) cpu[s][m].push(r.cpuMsPerKtx);
          if (r.p99Ms !== null) p99[s][m].push(r.p99Ms);
        }
      }
    }
    const result: Record<string, unknown> = {
      runs: RUNS, seconds: SECONDS, scale: SCALE, clients: 10, cpus: cpus().length, loadBefore, loadAfter: loadavg().map((x) => +x.toFixed(1)), tps,
    };
    result.middleCpuMsPer1000Tx = cpu;
    const lines = ['| script | direct TPS | pg-proxy 1 % TPS | pgbouncer TPS | proxy / direct | proxy / pgbouncer | CPU ms / 1000 tx: proxy, pgbouncer |', '|---|---|---|---|---|---|---|'];
    for (const s of Object.keys(scripts)) {
      const d = median(tps[s].direct), p = median(tps[s]['pg-proxy 1%']), b = median(tps[s]['pgbouncer session']);
      result[s] = { direct: d, proxy: p, pgbouncer: b, proxyOverDirect: p / d, proxyOverPgbouncer: p / b };
      const pc = median(cpu[s]['pg-proxy 1%']), bc = median(cpu[s]['pgbouncer session']);
      lines.push(`| ${s} | ${d.toFixed(0)} | ${p.toFixed(0)} | ${b.toFixed(0)} | ${(p / d * 100).toFixed(1)} % | ${(p / b * 100).toFixed(1)} % | ${pc.toFixed(0)}, ${bc.toFixed(0)} |`);
    }
    if (TAP) {
      result.p99Ms = p99;
      result.tapCounts = tapCounts;
      lines.push('', '| script | mode | TPS | / direct | / direct, median of rounds [95 % interval] | p99 ms | CPU ms / 1000 tx of the middle process |', '|---|---|---|---|---|---|---|');
      const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;
      for (const s of Object.keys(scripts)) {
        const d = median(tps[s].direct);
        for (const m of Object.keys(modes)) {
          const c = cpu[s][m].length ? median(cpu[s][m]).toFixed(1) : '—';
          const paired = pairedRatio(tps[s][m], tps[s].direct);
          lines.push(`| ${s} | ${m} | ${median(tps[s][m]).toFixed(0)} | ${pct(median(tps[s][m]) / d)} | ${pct(paired.median)} [${pct(paired.low)}, ${pct(paired.high)}] | ${median(p99[s][m]).toFixed(2)} | ${c} |`);
        }
      }
    }
    const extra = ['pg-proxy js engine 1%', 'baseline pg-proxy 1%', 'bare Node relay'].filter((m) => m in modes);
    if (extra.length > 0) {
      lines.push('', '| script | peer | TPS | CPU ms / 1000 tx | pg-proxy TPS, CPU in the same runs |', '|---|---|---|---|---|');
      for (const s of Object.keys(scripts)) {
        for (const m of extra) {
          lines.push(`| ${s} | ${m} | ${median(tps[s][m]).toFixed(0)} | ${median(cpu[s][m]).toFixed(0)} | ${median(tps[s]['pg-proxy 1%']).toFixed(0)}, ${median(cpu[s]['pg-proxy 1%']).toFixed(0)} |`);
        }
      }
    }
    proxy.kill('SIGINT');
    await new Promise((r) => proxy.once('exit', r));
    result.proxyCounts = proxyOut.trim() ? JSON.parse(proxyOut.trim()) : null;
    process.stdout.write(JSON.stringify(result, null, 1) + '\n\n' + lines.join('\n') + '\n');
  } finally {
    if (proxy.exitCode === null) proxy.kill('SIGKILL');
    baseline?.kill('SIGKILL');
    floor?.kill('SIGKILL');
    jsProxy?.kill('SIGKILL');
    bouncer.kill('SIGTERM');
    await exec('sh', ['-c', `kill $(cat ${join(dir, 'pid')}) 2>/dev/null || true`]);
    await new Promise((r) => setTimeout(r, 300));
    await rm(dir, { recursive: true, force: true });
    await exec('psql', ['-X', '-q', '-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres', '-c', `DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`]);
  }
}

main().catch((err) => { console.error(err); process.exitCode = 1; });
