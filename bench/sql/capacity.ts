/**
 * Capacity prediction: the knee found on a shadow versus the knee measured directly on the primary
 * with the same workload. The primary is a pgbench database; the shadow is created from it
 * (schema + a row sample) on the same cluster (so the same configuration); pgbench's TPC-B-like
 * traffic runs through the interceptor, which feeds the shadow a share (--rate, 5 % by default so
 * that 15 s of capture give a stable mix) of writes and reads and records the query mix; the mix is then ramped on the shadow and, separately, on the primary.
 *
 *   npx tsx bench/sql/capacity.ts [--tpcb] [--scale 10] [--fraction 0.1] [--slo 50] [--step-ms 3000] [--rate 0.05]
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cpus, loadavg } from 'node:os';
import { PgProxy } from '../../src/shadows/sql/proxy.js';
import { ShadowMirror } from '../../src/shadows/sql/mirror.js';
import { EventSink } from '../../src/shadows/sql/sink.js';
import { createShadow } from '../../src/shadows/sql/schema.js';
import { WorkloadDriver, findKnee, type KneeResult, type MixEntry } from '../../src/shadows/sql/workload.js';
import { recommendCapacity } from '../../src/shadows/sql/capacity.js';

const exec = promisify(execFile);
const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const SCALE = arg('scale', 10);
const FRACTION = arg('fraction', 0.1);
const SLO = arg('slo', 50);
const STEP_MS = arg('step-ms', 3000);
// Share of traffic fed to the shadow (and so recorded in the mix) while capturing.
const RATE = arg('rate', 0.05);
// pgbench script captured: select-only (-S, the default) or the TPC-B-like one (--tpcb).
const TPCB = process.argv.includes('--tpcb');
const PRIMARY = 'sp_sql_test_cap_primary';
const SHADOW = 'sp_sql_test_cap_shadow';
const url = (db: string): string => `postgres://postgres@127.0.0.1:5432/${db}`;
const psql = (sql: string): Promise<unknown> => exec('psql', ['-X', '-q', '-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres', '-c', sql]);

async function ramp(db: string, mix: MixEntry[]): Promise<KneeResult & { coverage: number }> {
  const driver = new WorkloadDriver({ url: url(db), connections: 8 });
  await driver.prepare(mix);
  try {
    const knee = await findKnee(driver, { slo: { quantile: 'p95', ms: SLO }, startRate: 100, factor: 1.3, maxRate: 20_000, stepMs: STEP_MS });
    return { ...knee, coverage: driver.coverage(mix).share };
  } finally {
    await driver.close();
  }
}

async function main(): Promise<void> {
  for (const db of [PRIMARY, SHADOW]) { await psql(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`); await psql(`CREATE DATABASE ${db}`); }
  await exec('pgbench', ['-i', '-q', '-s', String(SCALE), '-h', '127.0.0.1', '-U', 'postgres', PRIMARY]);
  const created = await createShadow(url(PRIMARY), url(SHADOW), FRACTION);

  const mirror = new ShadowMirror({ shadowUrl: url(SHADOW), writeRate: RATE, readRate: RATE });
  mirror.start();
  const sink = new EventSink();
  const proxy = new PgProxy({ upstreamHost: '127.0.0.1', upstreamPort: 5432, target: 'bench', sampleRate: 0.01, events: sink, mirror });
  const port = await proxy.listen(0);
  const { stdout } = await exec('pgbench', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-c', '4', '-j', '2', '-T', '15', '-n', ...(TPCB ? [] : ['-S']), PRIMARY]);
  const captureTps = Number(/tps = ([\d.]+)/.exec(stdout)?.[1]);
  await new Promise((r) => setTimeout(r, 1000));
  await proxy.close();
  await mirror.stop();
  await sink.close();
  const mix = mirror.mix.list();

  const shadow = await ramp(SHADOW, mix);
  const primary = await ramp(PRIMARY, mix);
  const statementsPerSecond = captureTps * (TPCB ? 5 : 1);
  const rec = recommendCapacity({ knee: shadow, forecastPeakRate: statementsPerSecond * 3, currentInstances: 1, headroom: 0.3 });
  const brief = (k: KneeResult & { coverage: number }) => ({
    kneeRate: k.kneeRate, bounded: k.bounded, coverage: +k.coverage.toFixed(3),
    steps: k.steps.map((s) => ({
      rate: s.targetRate, achieved: +s.achievedRate.toFixed(0), p95: +s.p95Ms.toFixed(2),
      cpu: s.backendCpuCores === null ? null : +s.backendCpuCores.toFixed(2), commits: +s.stat.xactCommit.toFixed(0), dropped: s.dropped, errors: s.errors,
    })),
  });
  const result = {
    cpus: cpus().length, loadavg: loadavg().map((x) => +x.toFixed(1)), script: TPCB ? 'tpcb' : 'select-only', scale: SCALE, fraction: FRACTION, captureRate: RATE, sloP95Ms: SLO, stepMs: STEP_MS,
    shadowRows: created.tables, captureTps, mirror: mirror.stats,
    mix: mix.map((e) => ({ fingerprint: e.fingerprint, count: e.count })),
    shadow: brief(shadow), primary: brief(primary),
    kneeRatioShadowOverPrimary: primary.kneeRate > 0 ? shadow.kneeRate / primary.kneeRate : null,
    recommendation: { ...rec, evidence: { ...rec.evidence, steps: `${rec.evidence.steps.length} steps (above)` } },
  };
  process.stdout.write(JSON.stringify(result, null, 1) + '\n');
  for (const db of [PRIMARY, SHADOW]) await psql(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
}

main().catch((err) => { console.error(err); process.exitCode = 1; });
