/**
 * In-process ingest throughput, one core (events per second of CPU time, see cpuSeconds()): events straight into the rollup engine, and through the
 * whole ingest path (schema check, sampling, pseudonymisation, rollup). Each event touches the
 * total, op, table, two columns, user and route windows.
 *
 *   npx tsx bench/ingest/inprocess.ts [events=2000000] [runs=5]
 */
import { VirtualClock } from '../../src/core/clock.js';
import { TargetRegistry } from '../../src/control/targets.js';
import { Ingestor } from '../../src/ingest/ingestor.js';
import { Pseudonymizer } from '../../src/ingest/pseudonym.js';
import { RollupEngine, type RollupEvent } from '../../src/store/rollup.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { median } from '../util.js';

const N = Number(process.argv[2] ?? 2_000_000);
const RUNS = Number(process.argv[3] ?? 5);
const T0 = Date.UTC(2026, 0, 1);
const TABLES = Array.from({ length: 50 }, (_, i) => `table_${i}`);
const USERS = Array.from({ length: 5000 }, (_, i) => `user-${i}@example.com`);
const ROUTES = Array.from({ length: 200 }, (_, i) => `GET /api/v1/resource_${i}/:id`);

function makeEvents(n: number, spanMs: number) {
  return Array.from({ length: n }, (_, i) => {
    const table = TABLES[(i * 7) % TABLES.length];
    return {
      target: 'bench-db',
      op: i % 5 === 0 ? 'write' : 'read',
      table,
      columns: ['id', `col_${i % 20}`],
      route: ROUTES[(i * 13) % ROUTES.length],
      user: USERS[(i * 31) % USERS.length],
      bytes: 100 + (i % 900),
      latencyMs: 0.5 + ((i * 17) % 1000) / 10,
      at: T0 + Math.floor((i / n) * spanMs),
    } as const;
  });
}

const options = { granularities: [60, 300, 3600], topK: 100, openKeysPerDimension: 1000, latenessSeconds: 60 };
const events = makeEvents(N, 60_000 * 10);

/**
 * Events per second of this thread's CPU time: on a shared, loaded machine wall time mostly
 * measures the other tenants, while CPU time measures the work (one core, one thread).
 */
function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function engineRun(): number {
  const clock = new VirtualClock(T0);
  const engine = new RollupEngine(options, clock);
  const pseudonyms = new Pseudonymizer('k'.repeat(32));
  const rollupEvents: RollupEvent[] = events.map((e) => ({ ...e, columns: [...e.columns], user: pseudonyms.pseudonym(e.user) }));
  const start = cpuSeconds();
  for (const e of rollupEvents) engine.addEvent('bench-db', e, 1);
  return N / (cpuSeconds() - start);
}

async function ingestorRun(): Promise<number> {
  const clock = new VirtualClock(T0);
  const engine = new RollupEngine(options, clock);
  const store = new SqliteStore(':memory:');
  await store.init();
  const targets = new TargetRegistry(store, clock);
  await targets.load([{ name: 'bench-db', kind: 'database', samplingRate: 1 }]);
  const ingestor = new Ingestor(engine, targets, new Pseudonymizer('k'.repeat(32)), clock, { maxFutureSkewMs: 1e15, unknownTargets: 'reject' });
  const batch = 1000;
  const start = cpuSeconds();
  for (let i = 0; i < N; i += batch) ingestor.ingestEvents(events.slice(i, i + batch));
  const rate = N / (cpuSeconds() - start);
  await store.close();
  return rate;
}

const engineRates: number[] = [];
const ingestRates: number[] = [];
for (let r = 0; r < RUNS; r++) {
  engineRates.push(engineRun());
  ingestRates.push(await ingestorRun());
}
const fmt = (x: number) => `${Math.round(x).toLocaleString('en-US')} events per CPU-second`;
console.log(`events per run: ${N}, runs: ${RUNS}`);
console.log(`rollup engine only:        median ${fmt(median(engineRates))} (runs: ${engineRates.map((x) => Math.round(x / 1000) + 'k').join(', ')})`);
console.log(`full ingest path (batch 1000): median ${fmt(median(ingestRates))} (runs: ${ingestRates.map((x) => Math.round(x / 1000) + 'k').join(', ')})`);
console.log(JSON.stringify({ bench: 'ingest-inprocess', events: N, engineMedian: median(engineRates), ingestMedian: median(ingestRates) }));
