/**
 * Supervision of the stream's worker processes: starts each one (forked, over Node IPC), tells
 * the service about its commits and its death, and sends it messages while it runs. What a death
 * means for the partitions (fencing, failover, the replacement) is the service's business.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FromWorker, ToWorker } from './protocol.js';

interface Worker {
  readonly id: number;
  proc: ChildProcess;
  ready: boolean;
}

/** What the pool reports about its workers. */
export interface WorkerEvents {
  /** A running worker asks for a commit. */
  readonly onCommit: (worker: number, msg: Extract<FromWorker, { t: 'commit' }>) => void;
  /** A worker that was started exited (not called while the pool is stopping). */
  readonly onDeath: (worker: number, code: number | null, signal: NodeJS.Signals | null) => void;
}

function workerEntry(): { path: string; execArgv: string[] } {
  const js = fileURLToPath(new URL('./worker.js', import.meta.url));
  if (existsSync(js)) return { path: js, execArgv: [] };
  // Running from TypeScript sources (tests, tsx): the child needs the same loader.
  return { path: fileURLToPath(new URL('./worker.ts', import.meta.url)), execArgv: ['--import', 'tsx'] };
}

/** The worker processes, by id. `stop()` ends them all. */
export class WorkerPool {
  private readonly workers: Worker[] = [];
  private stopping = false;

  /** `capacity` is the records per second each worker processes. */
  constructor(private readonly capacity: number, private readonly events: WorkerEvents) {}

  /** Number of worker slots. */
  get size(): number {
    return this.workers.length;
  }

  /** The slot ids, in order. */
  ids(): number[] {
    return this.workers.map((w) => w.id);
  }

  /**
   * Starts (or restarts) worker `id`; resolves once it is ready, rejects when it exits before.
   * A later exit is reported through `onDeath`.
   */
  spawn(id: number): Promise<void> {
    const entry = workerEntry();
    const proc = fork(entry.path, [], { execArgv: entry.execArgv, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const w: Worker = { id, proc, ready: false };
    this.workers[id] = w;
    return new Promise((resolve, reject) => {
      proc.on('message', (msg: FromWorker) => {
        if (msg.t === 'ready') {
          w.ready = true;
          proc.send({ t: 'config', capacity: this.capacity } satisfies ToWorker);
          resolve();
        } else if (msg.t === 'commit' && this.workers[id] === w) {
          this.events.onCommit(id, msg);
        }
      });
      proc.on('error', reject);
      proc.on('exit', (code, signal) => {
        if (this.workers[id] !== w) return;
        w.ready = false;
        if (!this.stopping) this.events.onDeath(id, code, signal);
        reject(new Error(`worker ${id} exited before it was ready`));
      });
    });
  }

  /** True when worker `id` is running and ready for messages. */
  alive(id: number): boolean {
    return this.workers[id]?.ready === true;
  }

  /** Sends `msg` to worker `id` when it is running; dropped otherwise (its replacement is assigned afresh). */
  send(id: number, msg: ToWorker): void {
    const w = this.workers[id];
    if (w?.ready && w.proc.connected) w.proc.send(msg);
  }

  /** The OS process id of worker `id`. */
  pid(id: number): number | undefined {
    return this.workers[id]?.proc.pid;
  }

  /** Stops reporting deaths and ends every worker (SIGTERM), resolving when all have exited. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.workers.map((w) => new Promise<void>((resolve) => {
      if (w.proc.exitCode !== null || w.proc.signalCode !== null) return resolve();
      w.proc.once('exit', () => resolve());
      w.proc.kill('SIGTERM');
    })));
  }
}
