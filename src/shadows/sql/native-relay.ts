/**
 * The interceptor's byte path in C (the `native` engine): native/pg_relay.c, built by `npm ci`
 * (node-gyp) into build/Release/pg_relay.node. One epoll thread per relay copies bytes, follows the
 * framing and draws the sampling verdicts exactly as the `js` engine does; only kept queries cross
 * into JavaScript, in batches.
 */
import { createRequire } from 'node:module';
import { lookup } from 'node:dns/promises';
import { decodeBind } from './wire.js';
import { zeroCounters, type KeptQuery, type Relay, type RelayCounters, type RelayOptions } from './relay.js';

/** A kept query as the addon hands it over: the raw Bind body instead of decoded parameters. */
export interface NativeQuery extends Omit<KeptQuery, 'params'> {
  readonly bind?: Buffer;
}

interface Binding {
  start(
    options: {
      listenHost: string;
      listenPort: number;
      upstreamHost: string;
      upstreamPort: number;
      sampleRate: number;
      mirrorRate: number;
      startupTimeoutMs: number;
    },
    onQueries: (queries: NativeQuery[]) => void,
  ): { handle: unknown; port: number };
  setRates(handle: unknown, sampleRate: number, mirrorRate: number): void;
  /** Every counter but tlsTerminated: this engine never terminates TLS. */
  stats(handle: unknown): Omit<RelayCounters, 'tlsTerminated'>;
  stop(handle: unknown): { stats: Omit<RelayCounters, 'tlsTerminated'>; queries: NativeQuery[] };
}

const addons = new Map<string, unknown>();

/**
 * A compiled addon from build/Release (`pg_relay`, `tap`), or the reason it cannot be loaded
 * (not built, no compiler at install).
 */
export function loadAddon<T>(name: string): T | Error {
  if (!addons.has(name)) {
    const require = createRequire(import.meta.url);
    // From src/shadows/sql (tsx) or dist/src/shadows/sql (compiled) up to the package root.
    const candidates = [`../../../build/Release/${name}.node`, `../../../../build/Release/${name}.node`];
    let loaded: unknown = new Error(`the native addon is not built (build/Release/${name}.node is missing); run \`npm run build:native\`, which needs make and a C compiler`);
    for (const path of candidates) {
      try { loaded = require(path); break; } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') { loaded = err; break; }
      }
    }
    addons.set(name, loaded);
  }
  return addons.get(name) as T | Error;
}

/** The compiled relay, or the reason it cannot be loaded. */
export function nativeBinding(): Binding | Error {
  return loadAddon<Binding>('pg_relay');
}

/** A kept query with its Bind body decoded to text parameters. */
export const toKept = ({ bind, ...rest }: NativeQuery): KeptQuery => (bind ? { ...rest, params: decodeBind(bind).values } : rest);

/** The C relay. Construct only when nativeBinding() is not an Error; it does not terminate TLS. */
export class NativeRelay implements Relay {
  private handle: unknown;
  private final: RelayCounters | undefined;
  private sampleRate: number;
  private mirrorRate: number;

  constructor(private readonly options: RelayOptions) {
    this.sampleRate = options.sampleRate;
    this.mirrorRate = options.mirrorRate;
  }

  async listen(port: number, host: string): Promise<number> {
    const native = nativeBinding();
    if (native instanceof Error) throw native;
    const [listenHost, upstreamHost] = await Promise.all([lookup(host), lookup(this.options.upstreamHost)]);
    const started = native.start({
      listenHost: listenHost.address, listenPort: port,
      upstreamHost: upstreamHost.address, upstreamPort: this.options.upstreamPort,
      sampleRate: this.sampleRate, mirrorRate: this.mirrorRate, startupTimeoutMs: this.options.startupTimeoutMs,
    }, (queries) => this.deliver(queries));
    this.handle = started.handle;
    return started.port;
  }

  setRates(sampleRate: number, mirrorRate: number): void {
    this.sampleRate = sampleRate;
    this.mirrorRate = mirrorRate;
    if (this.handle !== undefined) (nativeBinding() as Binding).setRates(this.handle, sampleRate, mirrorRate);
  }

  counters(): RelayCounters {
    if (this.final) return { ...this.final };
    if (this.handle === undefined) return zeroCounters();
    return { ...zeroCounters(), ...(nativeBinding() as Binding).stats(this.handle) };
  }

  async close(): Promise<void> {
    if (this.handle === undefined) return;
    const { stats, queries } = (nativeBinding() as Binding).stop(this.handle);
    this.handle = undefined;
    this.final = { ...zeroCounters(), ...stats };
    this.deliver(queries);
  }

  private deliver(queries: NativeQuery[]): void {
    for (const q of queries) this.options.onQuery(toKept(q));
  }
}
