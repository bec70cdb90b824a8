/**
 * Real Prometheus and Alertmanager processes for integration tests (Debian's `prometheus` and
 * `prometheus-alertmanager`): each started on a free port with its own temporary directory, and
 * stopped (and the directory removed) by `stop()`. Outside CI a missing binary skips the suite with
 * a reason; with CI=true it fails, so a missing peer can never pass silently.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitFor } from './wait.js';

export const PROMETHEUS_BIN = process.env.SHADOWPLANE_TEST_PROMETHEUS ?? '/usr/bin/prometheus';
export const PROMTOOL_BIN = process.env.SHADOWPLANE_TEST_PROMTOOL ?? '/usr/bin/promtool';
export const ALERTMANAGER_BIN = process.env.SHADOWPLANE_TEST_ALERTMANAGER ?? '/usr/bin/prometheus-alertmanager';

/** Undefined when `bin` runs, else a skip reason (outside CI); throws under CI=true. */
export function peerSkipReason(bin: string): string | undefined {
  const run = spawnSync(bin, ['--version'], { stdio: 'ignore' });
  if (!run.error && run.status === 0) return undefined;
  const reason = `${bin} does not run (${run.error?.message ?? `exit ${run.status}`}); install Debian's prometheus and prometheus-alertmanager`;
  if (process.env.CI === 'true') throw new Error(`${reason} (CI=true: integration tests must run)`);
  return reason;
}

/** A running peer: its base URL, its temporary directory, and how to stop it. */
export interface Peer {
  readonly url: string;
  readonly dir: string;
  /** Everything the process wrote to stderr so far (its log). */
  log(): string;
  stop(): Promise<void>;
}

async function startPeer(
  name: string, bin: string, args: (dir: string, port: number) => string[], files: Record<string, string>, prepare?: (dir: string) => void,
): Promise<Peer> {
  const dir = mkdtempSync(join(tmpdir(), `sp-${name}-`));
  const port = await freePort();
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text.replaceAll('{{self}}', `127.0.0.1:${port}`));
  try {
    prepare?.(dir);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(bin, args(dir, port), { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => {
    exited = true;
    resolve();
  }));
  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      await exit;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(`${name} to be ready at ${url}`, async () => {
      if (exited) throw new Error(`${name} exited: ${stderr.slice(-2000)}`);
      return (await fetch(`${url}/-/ready`)).ok ? true : undefined;
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, dir, log: () => stderr, stop };
}

/**
 * Starts Prometheus with `config` (YAML, `{{self}}` standing for its own host:port) as its
 * configuration file; remote-write receiving and the admin API are on. `backfill` (OpenMetrics
 * text, ending `# EOF`) is turned into TSDB blocks by promtool before the start.
 */
export function startPrometheus(config: string, backfill?: string): Promise<Peer> {
  return startPeer('prometheus', PROMETHEUS_BIN, (dir, port) => [
    `--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`,
    '--web.enable-remote-write-receiver', '--web.enable-admin-api', '--log.level=warn',
  ], { 'prometheus.yml': config }, backfill === undefined ? undefined : (dir) => {
    writeFileSync(join(dir, 'backfill.om'), backfill);
    const run = spawnSync(PROMTOOL_BIN, ['tsdb', 'create-blocks-from', 'openmetrics', '--quiet', join(dir, 'backfill.om'), join(dir, 'data')], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`promtool backfill failed: ${run.error?.message ?? run.stderr}`);
  });
}

/** Starts Alertmanager with `config` (YAML); clustering is off. */
export function startAlertmanager(config: string): Promise<Peer> {
  return startPeer('alertmanager', ALERTMANAGER_BIN, (dir, port) => [
    `--config.file=${join(dir, 'alertmanager.yml')}`, `--storage.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`,
    '--cluster.listen-address=', '--log.level=warn',
  ], { 'alertmanager.yml': config });
}

/** Answers a PromQL instant query over Prometheus's HTTP API: the vector's samples. */
export async function promQuery(prometheus: string, query: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = (await res.json()) as { status: string; error?: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] } };
  if (body.status !== 'success') throw new Error(`query ${query} failed: ${body.error}`);
  return body.data.result;
}
