/** Worker threads on our own modules, compiled or under tsx. */
import { Worker } from 'node:worker_threads';

/**
 * The Node options a worker pool's threads need to load `moduleUrl`: none for compiled JavaScript;
 * under tsx (a `.ts` module: tests, benchmarks) tsx's loader, which worker threads do not inherit.
 */
export function workerExecArgv(moduleUrl: string): string[] | undefined {
  return moduleUrl.endsWith('.ts') ? [...process.execArgv, '--import', 'tsx'] : undefined;
}

/**
 * Starts a worker running the module at `moduleUrl` with `workerData`. Compiled JavaScript is
 * loaded directly; under tsx the worker first registers tsx's loader and then imports the module,
 * since a worker's own entry module is loaded before any `--import` of its options takes effect.
 */
export function startModuleWorker(moduleUrl: string, workerData: unknown): Worker {
  if (!moduleUrl.endsWith('.ts')) return new Worker(new URL(moduleUrl), { workerData });
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(moduleUrl)}); });`;
  return new Worker(code, { eval: true, workerData });
}
