/**
 * The shipped `shadowplane proxy` as its own process, for tests that drive it as a user would: a
 * configuration file, the admin token in its environment, its admin API polled until it answers.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MigrationView } from '../../src/shadows/traffic/migration.js';
import { cli } from './cli.js';
import { freePort, waitFor } from './wait.js';

/** A running proxy process: its data and admin URLs, its migration of a route, its stop. */
export interface ProxyProcess {
  readonly url: string;
  readonly adminUrl: string;
  /** The route's latest migration, or undefined when it has none. */
  migration(route: string): Promise<MigrationView | undefined>;
  /** What the process wrote on stderr so far. */
  readonly stderr: string;
  /** SIGTERM, and waits for the exit. */
  stop(): Promise<void>;
}

/** Writes `config` (listen and admin ports are chosen here) to `dir` and starts the proxy with it, `env` added to its environment. */
export async function startProxyProcess(
  dir: string, config: Record<string, unknown>, adminToken: string, env: Record<string, string> = {},
): Promise<ProxyProcess> {
  const [dataPort, adminPort] = [await freePort(), await freePort()];
  const file = join(dir, 'proxy.json');
  writeFileSync(file, JSON.stringify({ listen: `127.0.0.1:${dataPort}`, admin: `127.0.0.1:${adminPort}`, ...config }));
  const child: ChildProcess = spawn(process.execPath, cli('proxy', '--config', file), {
    stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SHADOWPLANE_PROXY_TOKEN: adminToken, SHADOWPLANE_LOG_LEVEL: 'warn', ...env },
  });
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  };
  try {
    await waitFor(`the proxy's admin API (stderr: ${stderr})`, () => fetch(`${adminUrl}/healthz`).then((r) => r.ok, () => false), 30_000);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url: `http://127.0.0.1:${dataPort}`,
    adminUrl,
    async migration(route) {
      const res = await fetch(`${adminUrl}/v1/routes/${encodeURIComponent(route)}/migration`);
      return res.status === 404 ? undefined : ((await res.json()) as MigrationView);
    },
    get stderr() {
      return stderr;
    },
    stop,
  };
}
