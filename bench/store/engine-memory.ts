/**
 * What an open window costs in memory, in the rollup engine alone: the fleet bench's workload (N
 * targets, each with a working set of 4 of 40 tables, 3 columns of each, 8 of 500 users; events
 * spread over 20 s across a minute boundary, so two minutes' windows are open) added straight into
 * a RollupEngine, then the heap and the memory outside it (typed arrays) after full collections,
 * per open window, and the time of one flush's packing.
 *
 *   npm run build && node --expose-gc dist/bench/store/engine-memory.js [--targets 10000] [--events 1000000]
 */
import { parseArgs } from 'node:util';
import { VirtualClock } from '../../src/core/clock.js';
import { mulberry32 } from '../../src/core/random.js';
import { RollupEngine, type RollupEvent } from '../../src/store/rollup.js';

const { values: args } = parseArgs({ options: { targets: { type: 'string', default: '10000' }, events: { type: 'string', default: '1000000' } } });
const TARGETS = Number(args.targets);
const EVENTS = Number(args.events);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const collect = () => {
  gc();
  gc();
};
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

const start = Date.UTC(2026, 0, 1, 0, 0, 50);
const clock = new VirtualClock(start);
const random = mulberry32(7);
collect();
const before = process.memoryUsage();
const engine = new RollupEngine({ granularities: [60, 300, 3600], topK: 100, openKeysPerDimension: 1000, latenessSeconds: 60 }, clock);
const event: RollupEvent = { op: 'read', bytes: 0, latencyMs: 0, at: 0 };
const t0 = performance.now();
for (let i = 0; i < EVENTS; i++) {
  const now = start + Math.floor((i / EVENTS) * 20_000);
  if (now > clock.now()) clock.advance(now - clock.now());
  const target = Math.floor(random() * TARGETS);
  const table = (target + Math.floor(random() * 4) * 10) % 40;
  const column = (c: number) => `c${(target + table + c * 7) % 23}`;
  const c1 = Math.floor(random() * 3);
  event.op = random() < 0.8 ? 'read' : 'write';
  event.table = `t${table}`;
  event.columns = random() < 0.5 ? [column(c1)] : [column(c1), column((c1 + 1) % 3)];
  event.user = `user-${(target * 7 + Math.floor(random() * 8) * 61) % 500}`;
  event.bytes = Math.floor(random() * 4000);
  event.rows = Math.floor(random() * 50);
  event.latencyMs = Math.exp(random() * 6) / 4; // 0.25 ms to 100 ms, log-uniform
  event.status = random() < 0.01 ? 500 : 200;
  event.at = now;
  engine.addEvent(`fleet-${String(target).padStart(6, '0')}`, event, 1);
}
const addMs = performance.now() - t0;
collect();
const after = process.memoryUsage();
const windows = engine.openWindowCount();
const heap = after.heapUsed - before.heapUsed;
const outside = after.arrayBuffers - before.arrayBuffers;
const f0 = performance.now();
const flush = engine.takeFlush();
const flushMs = performance.now() - f0;
flush.done();
console.log(`${TARGETS} targets, ${EVENTS} events (${Math.round(EVENTS / (addMs / 1000))} events/s added), ${windows} open windows`);
console.log(`heap ${mib(heap)} (${Math.round(heap / windows)} B per window), outside the heap ${mib(outside)} (${Math.round(outside / windows)} B per window)`);
console.log(`one flush packs ${flush.windows.count} windows in ${Math.round(flushMs)} ms`);
