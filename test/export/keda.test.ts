/**
 * The KEDA external scaler, called the way KEDA calls it: a gRPC client built from KEDA's published
 * externalscaler.proto (proto/keda/) against a running service. GetMetricSpec / GetMetrics /
 * IsActive answer with the loop's desired units and forecast; StreamIsActive pushes when a decision
 * changes the value; an unknown target, a target without a loop and bad metadata are refused with
 * their gRPC status; a connected stream survives a restart of the service by reconnecting, and the
 * restarted service answers from the decisions it stored.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { validateConfig } from '../../src/config.js';
import { kedaProtoPath } from '../../src/export/keda.js';
import { ShadowplaneService } from '../../src/service.js';
import { freePort, waitFor } from '../helpers/wait.js';
import { writeHistory } from '../helpers/history.js';

type Unary = (req: unknown, cb: (err: grpc.ServiceError | null, res: any) => void) => void;
interface ScalerClient extends grpc.Client {
  IsActive: Unary;
  GetMetricSpec: Unary;
  GetMetrics: Unary;
  StreamIsActive(req: unknown): grpc.ClientReadableStream<{ result: boolean }>;
  StreamMetricSpec(req: unknown): grpc.ClientReadableStream<{ metricSpecs: unknown[] }>;
}

/** A client of KEDA's ExternalScaler service, from the shipped proto (as KEDA builds its own). */
function scalerClient(address: string): ScalerClient {
  const def = protoLoader.loadSync(kedaProtoPath(), { keepCase: true, longs: Number, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { externalscaler: { ExternalScaler: new (a: string, c: grpc.ChannelCredentials) => ScalerClient } };
  return new pkg.externalscaler.ExternalScaler(address, grpc.credentials.createInsecure());
}

const call = (client: ScalerClient, method: 'IsActive' | 'GetMetricSpec' | 'GetMetrics', req: unknown) =>
  new Promise<any>((resolve, reject) => client[method](req, (err, res) => (err ? reject(err) : resolve(res))));

/** Reads a server stream's messages into a list; `ended` resolves with the stream's end (status or error). */
function collect<T>(stream: grpc.ClientReadableStream<T>) {
  const messages: T[] = [];
  stream.on('data', (m: T) => messages.push(m));
  const ended = new Promise<grpc.StatusObject | grpc.ServiceError>((resolve) => {
    stream.on('error', resolve);
    stream.on('status', resolve);
  });
  ended.catch(() => undefined);
  return { messages, ended };
}

describe('KEDA external scaler', () => {
  let dir: string;
  let port: number;
  let service: ShadowplaneService;
  let client: ScalerClient;
  const ref = (metadata: Record<string, string>) => ({ name: 'orders-api', namespace: 'shop', scalerMetadata: metadata });

  const start = async () => {
    service = await ShadowplaneService.create(validateConfig({
      server: { port: 0 },
      store: { dataDir: dir },
      control: { enabled: false },
      keda: { enabled: true, port },
      targets: [
        { name: 'orders', kind: 'service', actuator: { type: 'replay', provisioningDelayMs: 120_000 }, control: { metric: 'load', capacityPerUnit: 10, initialUnits: 2, minWindows: 5, season: '0s', history: '2h', provisioningDelay: '2m', horizon: '10m', scaleUpLookahead: '5m' } },
        { name: 'plain', kind: 'service' },
      ],
    }));
    await service.start();
  };
  const pin = async (exact: number) => {
    await service.controller.setOverride('orders', 'pin', { actor: 'test', why: 'drive the scaler' }, undefined, { exact });
    return service.controller.loop('orders').tick();
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sp-keda-'));
    port = await freePort();
    await start();
    client = scalerClient(`127.0.0.1:${port}`);
  });

  after(async () => {
    client?.close();
    await service?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('before any decision: the spec is there, the metrics are unavailable', async () => {
    const spec = await call(client, 'GetMetricSpec', ref({ target: 'orders' }));
    assert.deepEqual(spec.metricSpecs, [{ metricName: 'shadowplane-orders-desired-units', targetSize: 1, targetSizeFloat: 1 }]);
    await assert.rejects(call(client, 'GetMetrics', { scaledObjectRef: ref({ target: 'orders' }), metricName: 'shadowplane-orders-desired-units' }), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.UNAVAILABLE);
      assert.match(err.details, /has no desiredUnits yet/);
      return true;
    });
  });

  test('GetMetrics and IsActive answer with the loop\'s desired units and forecast', async () => {
    await writeHistory(service, 'orders', 'load', Array.from({ length: 60 }, (_, i) => 40 + i + 5 * Math.sin(i)));
    const record = (await service.controller.loop('orders').tick())!;
    assert.ok(record.forecast);
    const desired = record.recommendation!.desiredUnits;
    const metrics = await call(client, 'GetMetrics', { scaledObjectRef: ref({ target: 'orders' }), metricName: 'shadowplane-orders-desired-units' });
    assert.deepEqual(metrics.metricValues, [{ metricName: 'shadowplane-orders-desired-units', metricValue: desired, metricValueFloat: desired }]);
    assert.equal((await call(client, 'IsActive', ref({ target: 'orders' }))).result, desired > 0);
    assert.equal((await call(client, 'IsActive', ref({ target: 'orders', activationThreshold: String(desired) }))).result, false);

    const upper = record.forecast.intervals.find((i) => i.level === 90)!.hi[1];
    const byForecast = ref({ target: 'orders', metric: 'forecastUpper', targetSize: '9.5' });
    assert.deepEqual((await call(client, 'GetMetricSpec', byForecast)).metricSpecs, [{ metricName: 'shadowplane-orders-forecast-upper', targetSize: 10, targetSizeFloat: 9.5 }]);
    const f = await call(client, 'GetMetrics', { scaledObjectRef: byForecast, metricName: 'shadowplane-orders-forecast-upper' });
    assert.equal(f.metricValues[0].metricValueFloat, upper);
  });

  test('unknown target, a target without a loop and bad metadata are refused with their status', async () => {
    const refused = async (metadata: Record<string, string>, code: grpc.status, details: RegExp) => {
      await assert.rejects(call(client, 'GetMetrics', { scaledObjectRef: ref(metadata), metricName: 'x' }), (err: grpc.ServiceError) => {
        assert.equal(err.code, code, err.details);
        assert.match(err.details, details);
        return true;
      });
    };
    await refused({ target: 'nobody' }, grpc.status.NOT_FOUND, /no target is called "nobody"/);
    await refused({ target: 'plain' }, grpc.status.FAILED_PRECONDITION, /SHADOWPLANE_ERR_NOT_CONTROLLED/);
    await refused({}, grpc.status.INVALID_ARGUMENT, /scalerMetadata\.target: is required/);
    await refused({ target: 'orders', metric: 'cpu' }, grpc.status.INVALID_ARGUMENT, /scalerMetadata\.metric: must be one of desiredUnits, forecastUpper, forecastMean, demand/);
    await refused({ target: 'orders', targetSize: '0' }, grpc.status.INVALID_ARGUMENT, /scalerMetadata\.targetSize: must be a number > 0/);
    const stream = collect(client.StreamIsActive(ref({ target: 'nobody' })));
    const end = (await stream.ended) as grpc.ServiceError;
    assert.equal(end.code, grpc.status.NOT_FOUND);
    assert.deepEqual(stream.messages, []);
  });

  test('StreamIsActive pushes when a decision changes the value, and StreamMetricSpec sends the spec', async () => {
    const specs = collect(client.StreamMetricSpec(ref({ target: 'orders' })));
    const stream = collect(client.StreamIsActive(ref({ target: 'orders' })));
    await waitFor('the state on opening', async () => (stream.messages.length === 1 ? true : undefined));
    assert.deepEqual(stream.messages, [{ result: true }]);
    await waitFor('the spec on opening', async () => (specs.messages.length === 1 ? true : undefined));
    await pin(7);
    assert.equal((await call(client, 'GetMetrics', { scaledObjectRef: ref({ target: 'orders' }), metricName: 'shadowplane-orders-desired-units' })).metricValues[0].metricValue, 7);
    await pin(0);
    await waitFor('pushes for 7 then 0 units', async () => (stream.messages.length === 3 ? true : undefined));
    assert.deepEqual(stream.messages, [{ result: true }, { result: true }, { result: false }]);
    await pin(0);
    assert.equal(stream.messages.length, 3, 'an unchanged value is not pushed again');
  });

  test('a connected stream across a restart: it ends, reconnects, and gets the stored state', async () => {
    const stream = collect(client.StreamIsActive(ref({ target: 'orders' })));
    await waitFor('the state on opening', async () => (stream.messages.length === 1 ? true : undefined));
    assert.deepEqual(stream.messages, [{ result: false }]);
    await service.stop();
    const end = await stream.ended;
    assert.ok('code' in end);
    await start();
    // as KEDA does: open the stream again until the scaler answers
    const again = await waitFor('the stream reopened on the restarted service', async () => {
      const s = collect(client.StreamIsActive(ref({ target: 'orders' })));
      const first = await Promise.race([waitFor('a first message', async () => (s.messages.length > 0 ? s : undefined), 2000), s.ended.then(() => undefined)]);
      return first;
    });
    assert.deepEqual(again.messages, [{ result: false }], 'the stored pin-to-0 decision');
    assert.equal((await call(client, 'GetMetrics', { scaledObjectRef: ref({ target: 'orders' }), metricName: 'shadowplane-orders-desired-units' })).metricValues[0].metricValue, 0);
    await pin(3);
    await waitFor('a push from the restarted service', async () => (again.messages.length === 2 ? true : undefined));
    assert.deepEqual(again.messages[1], { result: true });
  });
});
