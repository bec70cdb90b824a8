/** Starting a worker thread on one of our own modules, compiled or under tsx. */
import { Worker } from 'node:worker_threads';

/**
 * Starts a worker running the module at `moduleUrl` (its `import.meta.url`) with `workerData`.
 * Compiled JavaScript is loaded directly; under tsx (tests, benchmarks) the worker first
 * registers tsx's loader, which worker threads do not inherit.
 */
export function startModuleWorker(moduleUrl: string, workerData: unknown): Worker {
  if (!moduleUrl.endsWith('.ts')) return new Worker(new URL(moduleUrl), { workerData });
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(moduleUrl)}); });`;
  return new Worker(code, { eval: true, workerData });
}
