/**
 * A stream worker process (started by the service with child_process.fork). It consumes the
 * partitions it is assigned at a fixed capacity (records per second, shared across its
 * partitions, round-robin) and asks the service to commit each processed batch. It keeps no state
 * worth saving: when it dies, the service fails its partitions over to live workers from the
 * committed offsets (or a standby), starts a new process as spare capacity, and the epoch fences
 * anything this one still sends.
 */
import type { FromWorker, ToWorker, WireRecord } from './protocol.js';

interface Assignment {
  epoch: number;
  queue: WireRecord[];
}

const TICK_MS = 10;
const MAX_CATCH_UP_MS = 100;
let capacity = 100;
let budget = 0;
let last = performance.now();
const assigned = new Map<number, Assignment>();
let cursor = 0;

function send(msg: FromWorker): void {
  // After the service is gone there is nobody to tell (and the 'disconnect' handler exits).
  if (process.connected) process.send?.(msg);
}

process.on('message', (msg: ToWorker) => {
  switch (msg.t) {
    case 'config':
      capacity = msg.capacity;
      break;
    case 'assign':
      assigned.set(msg.partition, { epoch: msg.epoch, queue: [] });
      break;
    case 'revoke': {
      const a = assigned.get(msg.partition);
      if (a && a.epoch <= msg.epoch) assigned.delete(msg.partition);
      break;
    }
    case 'records': {
      const a = assigned.get(msg.partition);
      if (a && a.epoch === msg.epoch) a.queue.push(...msg.records);
      break;
    }
  }
});

// Tokens accrue at `capacity` per second and are spent round-robin over the partitions with work.
// An idle worker cannot bank a burst (see below); a busy one whose timer fired late (a loaded
// machine) gets up to MAX_CATCH_UP_MS of the capacity it missed, so its rate does not depend on
// timer punctuality.
setInterval(() => {
  const now = performance.now();
  budget = Math.min(budget + ((now - last) / 1000) * capacity, Math.max(1, (capacity * MAX_CATCH_UP_MS) / 1000));
  last = now;
  const partitions = [...assigned.keys()];
  const done = new Map<number, WireRecord[]>();
  while (budget >= 1 && partitions.length > 0) {
    let progressed = false;
    for (let i = 0; i < partitions.length && budget >= 1; i++) {
      const p = partitions[(cursor + i) % partitions.length];
      const rec = assigned.get(p)!.queue.shift();
      if (!rec) continue;
      budget -= 1;
      progressed = true;
      let batch = done.get(p);
      if (!batch) done.set(p, (batch = []));
      batch.push(rec);
    }
    cursor++;
    if (!progressed) break;
  }
  if (partitions.every((p) => assigned.get(p)!.queue.length === 0)) budget = Math.min(budget, 1);
  for (const [p, batch] of done) {
    send({ t: 'commit', partition: p, epoch: assigned.get(p)!.epoch, from: batch[0].offset, ids: batch.map((r) => r.id) });
  }
}, TICK_MS);

process.on('disconnect', () => process.exit(0));
send({ t: 'ready' });
