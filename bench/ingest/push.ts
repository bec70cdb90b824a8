/**
 * Pushed metrics, per sample: the same 5,000 node-exporter-like samples (one per series, labels
 * job, instance, cpu, mode) sent to one in-process service as a JSON array to `POST /v1/samples` and
 * as a snappy-compressed remote-write WriteRequest to `POST /api/v1/write` (mapped by a series
 * rule onto the same target and labels). Requests go through fastify's `inject` (no sockets), so
 * the figure is the handler's cost: body parsing, decoding, mapping, validation and rollup. Kinds
 * are interleaved in every run; rates are per CPU-second of this process.
 *
 *   npx tsx bench/ingest/push.ts [requests=200] [runs=5]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../src/config.js';
import { encodeWriteRequest } from '../../src/ingest/remote-write.js';
import type { PushedPoints } from '../../src/ingest/series-rules.js';
import { ShadowplaneService } from '../../src/service.js';
import { median } from '../util.js';

const REQUESTS = Number(process.argv[2] ?? 200);
const RUNS = Number(process.argv[3] ?? 5);
const SERIES = 5000;

const dir = mkdtempSync(join(tmpdir(), 'sp-bench-push-'));
const service = await ShadowplaneService.create(validateConfig({
  store: { dataDir: dir },
  server: { maxEventsPerSecond: 1_000_000_000, bodyLimit: 64 * 1024 * 1024 },
  targets: [{ name: 'node-1', kind: 'service' }],
  ingest: { remoteWrite: { enabled: true }, seriesRules: [{ match: { job: 'node' }, targetLabel: 'instance', labels: ['cpu', 'mode'] }] },
}));

const labelsOf = (i: number) => ({ cpu: String(i % 500), mode: `mode_${Math.floor(i / 500)}` });
const bodies = (at: number) => {
  const series: PushedPoints[] = Array.from({ length: SERIES }, (_, i) => ({ metric: 'node_cpu_seconds_total', labels: { job: 'node', instance: 'node-1', ...labelsOf(i) }, samples: [{ at, value: i * 1.5 }] }));
  return {
    json: JSON.stringify(series.map((s, i) => ({ target: 'node-1', metric: s.metric, labels: labelsOf(i), at, value: s.samples[0].value }))),
    remoteWrite: encodeWriteRequest(series),
  };
};

const send = {
  json: (b: ReturnType<typeof bodies>) => service.api.inject({ method: 'POST', url: '/v1/samples', payload: b.json, headers: { 'content-type': 'application/json' } }),
  remoteWrite: (b: ReturnType<typeof bodies>) => service.api.inject({ method: 'POST', url: '/api/v1/write', payload: b.remoteWrite, headers: { 'content-type': 'application/x-protobuf', 'content-encoding': 'snappy' } }),
};

const rates: Record<keyof typeof send, number[]> = { json: [], remoteWrite: [] };
const sample = bodies(Date.now());
console.log(`body per ${SERIES} samples: JSON ${sample.json.length} bytes, remote-write ${sample.remoteWrite.length} bytes`);
for (let run = 0; run < RUNS; run++) {
  for (const kind of Object.keys(send) as (keyof typeof send)[]) {
    const b = bodies(Date.now());
    const res = await send[kind](b);
    if (res.statusCode !== 200 || JSON.parse(res.body).accepted !== SERIES) throw new Error(`${kind}: ${res.statusCode} ${res.body.slice(0, 300)}`);
    const start = process.cpuUsage();
    for (let r = 0; r < REQUESTS; r++) await send[kind](b);
    const used = process.cpuUsage(start);
    rates[kind].push((REQUESTS * SERIES) / ((used.user + used.system) / 1e6));
  }
}
for (const [kind, r] of Object.entries(rates)) console.log(`${kind}: median ${Math.round(median(r))} samples/CPU-s (runs: ${r.map((x) => Math.round(x / 1000) + 'k').join(', ')})`);
console.log(`ratio remote-write / JSON: ${(median(rates.remoteWrite) / median(rates.json)).toFixed(2)}`);
await service.stop();
rmSync(dir, { recursive: true, force: true });
