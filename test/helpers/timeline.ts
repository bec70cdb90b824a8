/**
 * The set-up of the one-timeline tests: a real service (real clock, SQLite, listening on a port)
 * with one target, a shadow component started as the shipped CLI's own process beside it, and
 * the waits they need. Registers its own before/after hooks; the process is stopped and the
 * directory removed whatever the tests did.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { validateConfig } from '../../src/config.js';
import { ShadowplaneService } from '../../src/service.js';
import { cli } from './cli.js';
import { waitFor } from './wait.js';

/** A service with `target`, and a component process to start beside it; see the file comment. */
export function timelineFixture(target: { name: string; kind: string }) {
  // The service requires a token, as a production one does: the component must send it.
  const token = 'timeline-fixture-service-token';
  const dir = mkdtempSync(join(tmpdir(), 'sp-timeline-'));
  let service: ShadowplaneService | undefined;
  let url = '';
  let child: ChildProcess | undefined;
  let stderr = '';
  before(async () => {
    service = await ShadowplaneService.create(validateConfig({ server: { port: 0, token }, store: { dataDir: join(dir, 'data'), flushInterval: '500ms' }, targets: [target] }));
    url = await service.start();
  });
  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await service?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return {
    dir,
    /** The service's bearer token (also given to the component process). */
    token,
    get service(): ShadowplaneService {
      return service!;
    },
    /** The service's base URL. */
    get url(): string {
      return url;
    },
    /** What the component wrote on stderr so far. */
    get stderr(): string {
      return stderr;
    },
    /** Starts `shadowplane <args>` (stopped after the tests). */
    start(args: string[]): void {
      child = spawn(process.execPath, cli(...args), { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SHADOWPLANE_LOG_LEVEL: 'warn', SHADOWPLANE_API_TOKEN: token } });
      child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    },
    /** The metric series keys of the target in the store, once it has some (flushed first). */
    metricKeys(ms = 30_000): Promise<string[]> {
      return waitFor(`samples of ${target.name} in the Shadow Store`, async () => {
        await service!.flush();
        const top = (await service!.api.inject({ method: 'GET', url: `/v1/targets/${target.name}/top?dim=metric&from=now-10m` })).json() as { keys: { key: string }[] };
        return top.keys.length > 0 && top.keys.map((r) => r.key);
      }, ms);
    },
  };
}
