/**
 * KEDA external scaler: a gRPC server implementing KEDA's `externalscaler.proto` (shipped in
 * proto/keda/ as KEDA publishes it), so a `ScaledObject` of type `external` or `external-push`
 * scales a Deployment on what a target's control loop decided, ahead of the peak. The
 * `scalerMetadata` of the ScaledObject names the target and what to scale on:
 *
 * - `target` (required): a controlled target;
 * - `metric`: `desiredUnits` (default), `forecastUpper`, `forecastMean` or `demand` — the values
 *   of the target's outlook (src/control/outlook.ts, the same as `/metrics`);
 * - `targetSize`: the metric's value one replica takes (default 1: with `desiredUnits`, replicas =
 *   desired units); KEDA's HPA sets replicas to ceil(value / targetSize);
 * - `activationThreshold`: the scaler is active while the value is above it (default 0).
 *
 * `StreamIsActive` sends the current state when opened and again whenever a decision of the target
 * changes the value, so `external-push` reacts at once; `StreamMetricSpec` sends the (fixed) spec
 * when opened. Errors are gRPC statuses naming the problem: NOT_FOUND (no such target),
 * FAILED_PRECONDITION (no control loop), INVALID_ARGUMENT (bad metadata), UNAVAILABLE (no decision
 * yet). Read-only: it changes nothing in the service.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { Type, type Static } from '@sinclair/typebox';
import { ShadowplaneError, type ErrorCode } from '../core/errors.js';
import type { TargetOutlook } from '../control/outlook.js';
import type { Logger } from '../obs/log.js';

/** `keda` in the config. */
export const KedaConfigSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: false, description: 'Serve KEDA\'s external scaler gRPC API (docs/integrations.md).' }),
    host: Type.String({ default: '127.0.0.1', description: 'Address the scaler listens on (plaintext gRPC; it only reads, so no token is asked for).' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 7071, description: 'TCP port of the scaler (0 picks a free one); a ScaledObject\'s `scalerAddress` is `<host>:<port>`.' }),
  },
  { additionalProperties: false, default: {}, description: 'KEDA external scaler (docs/integrations.md).' },
);

/** The scaler's settings. */
export type KedaConfig = Static<typeof KedaConfigSchema>;

/** What a ScaledObject can scale on, and the metric-name suffix of each. */
export const KEDA_METRICS = {
  desiredUnits: { name: 'desired-units', of: (o: TargetOutlook) => o.desiredUnits },
  forecastUpper: { name: 'forecast-upper', of: (o: TargetOutlook) => o.forecastUpper },
  forecastMean: { name: 'forecast-mean', of: (o: TargetOutlook) => o.forecastMean },
  demand: { name: 'demand', of: (o: TargetOutlook) => o.demand },
} as const;
type MetricKey = keyof typeof KEDA_METRICS;

/** What the scaler reads from the service. */
export interface KedaSources {
  /** The outlook of a controlled target; SHADOWPLANE_ERR_TARGET_NOT_FOUND or _NOT_CONTROLLED otherwise. */
  outlook(target: string): Promise<TargetOutlook>;
  /** Calls `fn` with the target of every decision written; returns the unsubscribe function. */
  onDecision(fn: (target: string) => void): () => void;
  readonly log: Logger;
}

interface ScaledObjectRef {
  name: string;
  namespace: string;
  scalerMetadata: Record<string, string>;
}

/** A ScaledObject's request, checked. */
interface Ask {
  target: string;
  metric: MetricKey;
  metricName: string;
  targetSize: number;
  activation: number;
}

/** proto/keda/externalscaler.proto, found from src/export (tsx) or dist/src/export (built). */
export function kedaProtoPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '../../..']) {
    const path = join(here, up, 'proto/keda/externalscaler.proto');
    if (existsSync(path)) return path;
  }
  throw new ShadowplaneError('SHADOWPLANE_ERR_INTERNAL', 'proto/keda/externalscaler.proto is missing from the installation');
}

/** KEDA's ExternalScaler service definition, loaded from the shipped proto. */
export function kedaService(): grpc.ServiceDefinition {
  const def = protoLoader.loadSync(kedaProtoPath(), { keepCase: true, longs: Number, defaults: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { externalscaler: { ExternalScaler: grpc.ServiceClientConstructor } };
  return pkg.externalscaler.ExternalScaler.service;
}

const STATUS: Partial<Record<ErrorCode, grpc.status>> = {
  SHADOWPLANE_ERR_TARGET_NOT_FOUND: grpc.status.NOT_FOUND,
  SHADOWPLANE_ERR_NOT_CONTROLLED: grpc.status.FAILED_PRECONDITION,
  SHADOWPLANE_ERR_VALIDATION: grpc.status.INVALID_ARGUMENT,
  SHADOWPLANE_ERR_STORE_UNAVAILABLE: grpc.status.UNAVAILABLE,
};

/** A gRPC error for `err`. */
function statusOf(err: unknown): Partial<grpc.StatusObject> {
  if (err instanceof ShadowplaneError) {
    const why = err.problems.map((p) => `${p.path}: ${p.message}`).join('; ');
    return { code: STATUS[err.code] ?? grpc.status.INTERNAL, details: `${err.code}: ${err.message}${why ? ` (${why})` : ''}` };
  }
  return { code: grpc.status.INTERNAL, details: (err as Error).message };
}

const invalid = (path: string, message: string) => new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', `scalerMetadata.${path} ${message}`, [{ path: `scalerMetadata.${path}`, message }]);

/** Checks a ScaledObject's scalerMetadata. */
function askOf(ref: ScaledObjectRef | null | undefined): Ask {
  const m = ref?.scalerMetadata ?? {};
  const target = m.target?.trim();
  if (!target) throw invalid('target', 'is required: the Shadowplane target to scale on');
  const metric = (m.metric ?? 'desiredUnits') as MetricKey;
  if (!(metric in KEDA_METRICS)) throw invalid('metric', `must be one of ${Object.keys(KEDA_METRICS).join(', ')}`);
  const num = (key: string, def: number, ok: (n: number) => boolean, rule: string) => {
    if (m[key] === undefined || m[key] === '') return def;
    const n = Number(m[key]);
    if (!Number.isFinite(n) || !ok(n)) throw invalid(key, rule);
    return n;
  };
  return {
    target, metric, metricName: `shadowplane-${target}-${KEDA_METRICS[metric].name}`,
    targetSize: num('targetSize', 1, (n) => n > 0, 'must be a number > 0'),
    activation: num('activationThreshold', 0, (n) => n >= 0, 'must be a number >= 0'),
  };
}

interface Stream {
  readonly call: grpc.ServerWritableStream<ScaledObjectRef, unknown>;
  readonly ask: Ask;
  last: number | null | undefined;
}

/** The external scaler server. */
export class KedaScaler {
  private readonly server = new grpc.Server();
  private readonly streams = new Set<Stream>();
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly sources: KedaSources) {
    const unary = <Req, Res>(fn: (req: Req) => Promise<Res>) => (call: grpc.ServerUnaryCall<Req, Res>, done: grpc.sendUnaryData<Res>) => {
      fn(call.request).then((res) => done(null, res), (err: unknown) => done(statusOf(err)));
    };
    this.server.addService(kedaService(), {
      IsActive: unary(async (ref: ScaledObjectRef) => {
        const ask = askOf(ref);
        return { result: isActive(ask, await this.value(ask)) };
      }),
      GetMetricSpec: unary(async (ref: ScaledObjectRef) => this.spec(ref)),
      GetMetrics: unary(async (req: { scaledObjectRef: ScaledObjectRef; metricName: string }) => {
        const ask = askOf(req.scaledObjectRef);
        const value = await this.value(ask);
        if (value === null) throw new ShadowplaneError('SHADOWPLANE_ERR_STORE_UNAVAILABLE', `target "${ask.target}" has no ${ask.metric} yet: its control loop has not decided (or has too little data to forecast)`);
        return { metricValues: [{ metricName: ask.metricName, metricValue: Math.round(value), metricValueFloat: value }] };
      }),
      StreamIsActive: (call: grpc.ServerWritableStream<ScaledObjectRef, unknown>) => void this.openStream(call),
      StreamMetricSpec: (call: grpc.ServerWritableStream<ScaledObjectRef, unknown>) => {
        this.spec(call.request).then((spec) => call.write(spec), (err: unknown) => call.emit('error', statusOf(err)));
      },
    });
  }

  /** Listens on `host:port`; resolves with the address (`host:port`, the port chosen when 0). */
  async listen(host: string, port: number): Promise<string> {
    const bound = await new Promise<number>((resolve, reject) => this.server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
    this.unsubscribe = this.sources.onDecision((target) => void this.push(target));
    return `${host}:${bound}`;
  }

  /** Ends the open streams (KEDA reconnects) and stops serving. */
  async close(): Promise<void> {
    this.unsubscribe?.();
    for (const s of this.streams) s.call.end();
    this.streams.clear();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 2000);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private async value(ask: Ask): Promise<number | null> {
    return KEDA_METRICS[ask.metric].of(await this.sources.outlook(ask.target));
  }

  private async spec(ref: ScaledObjectRef) {
    const ask = askOf(ref);
    await this.sources.outlook(ask.target);
    return { metricSpecs: [{ metricName: ask.metricName, targetSize: Math.max(1, Math.round(ask.targetSize)), targetSizeFloat: ask.targetSize }] };
  }

  /** A StreamIsActive call: the current state now, then on every change of the value. */
  private async openStream(call: grpc.ServerWritableStream<ScaledObjectRef, unknown>): Promise<void> {
    let stream: Stream;
    try {
      const ask = askOf(call.request);
      stream = { call, ask, last: await this.value(ask) };
    } catch (err) {
      call.emit('error', statusOf(err));
      return;
    }
    this.streams.add(stream);
    call.on('cancelled', () => this.streams.delete(stream));
    call.on('close', () => this.streams.delete(stream));
    call.write({ result: isActive(stream.ask, stream.last) });
  }

  /** Pushes to the streams of `target` whose value changed. */
  private async push(target: string): Promise<void> {
    for (const s of this.streams) {
      if (s.ask.target !== target) continue;
      try {
        const value = await this.value(s.ask);
        if (value === s.last) continue;
        s.last = value;
        s.call.write({ result: isActive(s.ask, value) });
      } catch (err) {
        this.sources.log.warn({ target, err: (err as Error).message }, 'KEDA stream not updated');
      }
    }
  }
}

function isActive(ask: Ask, value: number | null | undefined): boolean {
  return value !== null && value !== undefined && value > ask.activation;
}
