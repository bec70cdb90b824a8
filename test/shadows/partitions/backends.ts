/**
 * Opens each storage backend for the shared suites: a fresh segment directory, and a JetStream
 * log under a unique prefix. When NATS is unreachable the JetStream suites skip locally and fail
 * under CI=true.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JetStreamLog } from '../../../src/shadows/partitions/jetstream-log.js';
import type { ReplicaLog } from '../../../src/shadows/partitions/log.js';
import { SegmentLog } from '../../../src/shadows/partitions/segment-log.js';

/** A backend under test: how to open it and how to remove everything it stored. */
export interface Backend {
  readonly name: 'segment' | 'jetstream';
  /** Opens (or reopens, for the durability test) the same storage. */
  open(): Promise<ReplicaLog>;
  /** Deletes all data. */
  cleanup(): Promise<void>;
}

let seq = 0;

/** A fresh segment-file backend in a temporary directory. */
export async function segmentBackend(): Promise<Backend> {
  const dir = await mkdtemp(join(tmpdir(), 'sp-stream-'));
  return { name: 'segment', open: async () => new SegmentLog({ dir }), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A fresh JetStream backend under a unique prefix; fails when NATS cannot be reached. */
export async function jetstreamBackend(): Promise<Backend> {
  const prefix = `SPT_${process.pid}_${Date.now().toString(36)}_${seq++}`;
  const probe = await JetStreamLog.open({ prefix, timeoutMs: 1500 });
  return {
    name: 'jetstream',
    open: () => JetStreamLog.open({ prefix }),
    cleanup: async () => {
      await probe.destroy();
      await probe.close();
    },
  };
}

/** Why the JetStream suite cannot run here (NATS unreachable), or undefined when it can. Under CI=true, never skips. */
export async function jetstreamSkipReason(): Promise<string | undefined> {
  try {
    const b = await jetstreamBackend();
    await b.cleanup();
    return undefined;
  } catch (err) {
    if (process.env.CI === 'true') return undefined;
    return `NATS JetStream unreachable at 127.0.0.1:4222: ${(err as Error).message}`;
  }
}
