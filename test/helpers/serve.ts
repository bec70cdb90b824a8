/** The real `shadowplane serve` process (the built CLI in dist/), for tests of crashes, stops and owners. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/dist\/$/, '/');
const cli = join(root, 'dist/src/cli/main.js');

/** A running `serve`. */
export interface Serve {
  child: ChildProcess;
  url: string;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
}

/**
 * Starts `shadowplane serve --config <configFile>` (with `nodeArgs` given to node, e.g. a profiler
 * flag); resolves once it listens. Rejects if it exits first, with an Error carrying its `exitCode`
 * and `stderr`.
 */
export function startServe(configFile: string, nodeArgs: readonly string[] = []): Promise<Serve> {
  const child = spawn('node', [...nodeArgs, cli, 'serve', '--config', configFile], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SHADOWPLANE_LOG_LEVEL: 'warn' } });
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /listening on (http:\/\/\S+)/.exec(stderr);
      if (match) resolve({ child, url: match[1], stderr: () => stderr });
    });
    child.on('exit', (code) => reject(Object.assign(new Error(`serve exited with ${code}: ${stderr}`), { exitCode: code, stderr })));
  });
}

/** Resolves once `child` has exited. */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}
