/**
 * The interceptor's byte path on node:net (the `js` engine). Startup and authentication (cleartext,
 * md5, SCRAM) pass through byte for byte; SSLRequest is answered 'S' and TLS terminated when a
 * certificate is configured, else 'N' like GSSENCRequest (the client continues in clear or gives
 * up, as it chooses); CancelRequest is forwarded to the upstream on a new connection (the
 * BackendKeyData the client holds is the server's own, relayed unchanged). After
 * startup every chunk is written on as it arrives; a FrameTracker on each direction follows the
 * message framing to time queries (Query, or Execute in the extended protocol, until
 * CommandComplete/ErrorResponse/ReadyForQuery).
 */
import net from 'node:net';
import tls from 'node:tls';
import { randomUUID } from 'node:crypto';
import { keepSample } from '../../ingest/sampler.js';
import { zeroCounters, type KeptQuery, type Relay, type RelayCounters, type RelayOptions } from './relay.js';
import {
  CANCEL_REQUEST, FrameTracker, GSSENC_REQUEST, PROTOCOL_3, SSL_REQUEST,
  cStringEnd, decodeBind, errorResponse, readCString, sqlState, startupParams, tagRows,
} from './wire.js';

interface Unit {
  readonly requestId: string;
  readonly sql: string;
  /** `sync` marks a Sync in the queue: the ReadyForQuery that answers it closes the batch. */
  readonly kind: 'simple' | 'execute' | 'sync';
  readonly sampled: boolean;
  readonly mirror: boolean;
  /** sampled || mirror: only such units are written to; the others are shared placeholders. */
  readonly kept: boolean;
  readonly params?: (string | null)[];
  readonly at: number;
  readonly t0: number;
  rows?: number;
  bytes: number;
  error?: string;
}

const Q = 0x51, P = 0x50, B = 0x42, E = 0x45, S = 0x53, C = 0x43, Z = 0x5a, I = 0x49, S_SUSP = 0x73;
const placeholder = (kind: Unit['kind']): Unit => ({ requestId: '', sql: '', kind, sampled: false, mirror: false, kept: false, at: 0, t0: 0, bytes: 0 });
const SYNC = placeholder('sync');
const SKIP_SIMPLE = placeholder('simple');
const SKIP_EXECUTE = placeholder('execute');
/** Size of each upstream connection's read buffer. */
const READ_BUFFER = 64 * 1024;

/** The node:net relay. */
export class JsRelay implements Relay {
  private readonly stats: RelayCounters = zeroCounters();
  private readonly secureContext: tls.SecureContext | undefined;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private sampleRate: number;
  private mirrorRate: number;

  constructor(private readonly options: RelayOptions) {
    this.sampleRate = options.sampleRate;
    this.mirrorRate = options.mirrorRate;
    // Fails here, at start, on a certificate or key that does not load or does not match.
    try {
      this.secureContext = options.tls ? tls.createSecureContext({ cert: options.tls.cert, key: options.tls.key }) : undefined;
    } catch (err) {
      throw new Error(`TLS certificate or key rejected: ${(err as Error).message}`);
    }
    this.server = net.createServer((c) => this.accept(c));
  }

  async listen(port: number, host: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => { this.server.off('error', reject); resolve(); });
    });
    return (this.server.address() as net.AddressInfo).port;
  }

  setRates(sampleRate: number, mirrorRate: number): void {
    this.sampleRate = sampleRate;
    this.mirrorRate = mirrorRate;
  }

  counters(): RelayCounters {
    return { ...this.stats };
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(socket: net.Socket): void {
    this.stats.connections++;
    this.stats.active++;
    this.sockets.add(socket);
    socket.setNoDelay(true);
    const timeoutMs = this.options.startupTimeoutMs;
    const started = timeoutMs > 0 ? this.options.clock.setTimer(timeoutMs, () => { this.stats.startupTimeouts++; socket.destroy(); }) : (): void => undefined;
    socket.on('close', () => { started(); this.stats.active--; this.sockets.delete(socket); });
    socket.on('error', () => socket.destroy());
    this.startup(socket, started);
  }

  /**
   * Reads the startup phase from `client` (the TCP socket, or the TLS socket over it); calls
   * `started` once it is over (the startup timeout no longer applies).
   */
  private startup(client: net.Socket, started: () => void): void {
    let pending: Buffer = Buffer.alloc(0);
    const onStartup = (chunk: Buffer): void => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 8) {
        const len = pending.readInt32BE(0);
        if (len < 8 || len > 10_000) { client.end(errorResponse('08P01', 'invalid startup packet length')); return; }
        if (pending.length < len) return;
        const code = pending.readInt32BE(4);
        if (code === SSL_REQUEST && this.secureContext && !(client instanceof tls.TLSSocket)) {
          // The client speaks TLS next: the startup phase starts over inside it.
          client.off('data', onStartup);
          client.write('S');
          const secure = new tls.TLSSocket(client, { isServer: true, secureContext: this.secureContext });
          secure.on('error', () => client.destroy());
          this.sockets.add(secure);
          secure.once('close', () => { this.sockets.delete(secure); client.destroy(); });
          secure.once('secure', () => this.stats.tlsTerminated++);
          this.startup(secure, started);
          return;
        }
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          this.stats.sslRefused++;
          client.write('N');
          pending = pending.subarray(len);
          continue;
        }
        client.off('data', onStartup);
        started();
        if (code === CANCEL_REQUEST) { this.forwardCancel(pending.subarray(0, len)); client.end(); return; }
        if (code !== PROTOCOL_3) { client.end(errorResponse('08P01', `unsupported frontend protocol ${code >> 16}.${code & 0xffff}`)); return; }
        const user = startupParams(pending.subarray(0, len)).get('user') ?? '';
        this.relay(client, pending, len, user);
        return;
      }
    };
    client.on('data', onStartup);
  }

  private forwardCancel(packet: Buffer): void {
    this.stats.cancelsForwarded++;
    const up = net.connect(this.options.upstreamPort, this.options.upstreamHost, () => up.end(packet));
    up.on('error', () => up.destroy());
  }

  /**
   * Joins client and upstream; `first` holds the startup packet (length `startupLen`) and anything
   * after it. Per query, only a sequence number and a sampling verdict are computed; a Unit with
   * SQL, times and counters exists only for queries telemetry or the mirror keep.
   */
  private relay(client: net.Socket, first: Buffer, startupLen: number, user: string): void {
    // The server's replies are read into one buffer per connection instead of a fresh one per
    // read; while a write to the client still holds part of it, reading waits until that write is
    // flushed. (Not 'drain': a write below the high-water mark is queued without one ever coming.)
    let held = false;
    const readBuffer = Buffer.allocUnsafe(READ_BUFFER);
    const flushed = (): void => { if (held) { held = false; upstream.resume(); } };
    const upstream = net.connect({
      port: this.options.upstreamPort, host: this.options.upstreamHost,
      onread: {
        buffer: readBuffer,
        callback: (n) => {
          const chunk = readBuffer.subarray(0, n);
          client.write(chunk, flushed);
          if (!back.broken) { back.feed(chunk); lost(back); }
          if (client.writableLength === 0) return true;
          held = true;
          return false;
        },
      },
    });
    this.sockets.add(upstream);
    upstream.setNoDelay(true);
    client.pause();
    const prefix = `${randomUUID().slice(0, 13)}-`;
    let seq = 0;
    const units: Unit[] = [];
    const prepared = new Map<string, string>();
    const portals = new Map<string, string>();
    const portalParams = new Map<string, (string | null)[] | undefined>();

    // Request id, times and SQL text only for queries that sampling or the mirror keep.
    const open = (kind: 'simple' | 'execute', wireLength: number, body: Buffer): void => {
      this.stats.queries++;
      seq++;
      if (this.sampleRate <= 0 && this.mirrorRate <= 0) { units.push(kind === 'simple' ? SKIP_SIMPLE : SKIP_EXECUTE); return; }
      const requestId = prefix + seq;
      const sampled = keepSample(this.sampleRate, requestId);
      const mirrored = this.mirrorRate > 0 && keepSample(this.mirrorRate, `m:${requestId}`);
      if (!sampled && !mirrored) { units.push(kind === 'simple' ? SKIP_SIMPLE : SKIP_EXECUTE); return; }
      const portal = kind === 'execute' ? body.toString('utf8', 0, cStringEnd(body, 0)) : '';
      units.push({
        requestId, kind, sampled, mirror: mirrored, kept: true,
        sql: kind === 'simple' ? body.toString('utf8', 0, cStringEnd(body, 0)) : portals.get(portal) ?? '',
        params: kind === 'execute' ? portalParams.get(portal) : undefined,
        at: this.options.clock.now(), t0: this.options.clock.monotonic(), bytes: wireLength,
      });
    };
    const complete = (u: Unit): void => {
      if (!u.sampled && !(u.mirror && u.error === undefined)) return;
      const { requestId, sql, params, at, rows, bytes, error, sampled, mirror } = u;
      const query: KeptQuery = { requestId, user, sql, params, at, latencyMs: this.options.clock.monotonic() - u.t0, rows, bytes, error, sampled, mirror };
      this.options.onQuery(query);
    };

    const front = new FrameTracker((t) => t === Q || t === P || t === B || t === E || t === S, (type, len, body) => {
      if (!body) return;
      if (type === Q) open('simple', len, body);
      else if (type === S) units.push(SYNC);
      else if (type === E) open('execute', len, body);
      else if (type === B) {
        const portalEnd = cStringEnd(body, 0);
        const portal = body.toString('utf8', 0, portalEnd);
        portals.set(portal, prepared.get(body.toString('utf8', portalEnd + 1, cStringEnd(body, portalEnd + 1))) ?? '');
        // Parameter values are decoded only while a mirror may want them; telemetry never does.
        if (this.mirrorRate > 0) portalParams.set(portal, decodeBind(body).values);
        else if (portalParams.size > 0) portalParams.delete(portal);
      } else if (type === P) {
        const [name, off] = readCString(body, 0);
        prepared.set(name, readCString(body, off)[0]);
      }
    });
    // Bodies of CommandComplete and ErrorResponse are only read while a kept query is the oldest.
    const back = new FrameTracker((t) => (t === C || t === E) && units.length > 0 && units[0].kept, (type, len, body) => {
      const head = units[0];
      if (head === undefined) return;
      if (head.kept) head.bytes += len;
      if (type === C) {
        if (body) {
          const rows = tagRows(body);
          if (rows !== undefined) head.rows = (head.rows ?? 0) + rows;
        }
        if (head.kind === 'execute') { units.shift(); complete(head); }
      } else if (type === E) {
        if (body) head.error ??= sqlState(body);
        if (head.kind === 'execute') { units.shift(); complete(head); }
        // An error ends a simple query (the rest of its text is skipped, only ReadyForQuery
        // follows), and a client may close as soon as it sees the error, before the proxy reads
        // that ReadyForQuery: the query is complete now, and its place waits for the ReadyForQuery.
        else if (head.kind === 'simple' && head.kept) { units[0] = SKIP_SIMPLE; complete(head); }
      } else if ((type === I || type === S_SUSP) && head.kind === 'execute') {
        units.shift();
        complete(head);
      } else if (type === Z) {
        // Closes one simple query, or one Sync batch whose remaining executes the server skipped.
        while (units.length > 0) {
          const u = units.shift()!;
          if (u.kind === 'sync') break;
          if (u.kind === 'simple') { complete(u); break; }
          this.stats.skippedAfterError++;
        }
      }
    });
    const lost = (t: FrameTracker): void => { if (t.broken) { this.stats.framingLost++; units.length = 0; } };

    let connected = false;
    upstream.on('connect', () => {
      connected = true;
      upstream.write(first);
      if (first.length > startupLen) front.feed(first.subarray(startupLen));
      client.on('data', (chunk: Buffer) => {
        if (!upstream.write(chunk)) { client.pause(); upstream.once('drain', () => client.resume()); }
        if (!front.broken) { front.feed(chunk); lost(front); }
      });
      client.on('end', () => upstream.end());
      upstream.on('end', () => client.end());
      client.resume();
    });
    upstream.on('error', (err) => {
      if (!connected && client.writable) {
        client.end(errorResponse('08006', `upstream unreachable: ${err.message}`));
      } else client.destroy();
      upstream.destroy();
    });
    upstream.on('close', () => { this.sockets.delete(upstream); client.destroy(); });
    client.on('close', () => upstream.destroy());
  }
}
