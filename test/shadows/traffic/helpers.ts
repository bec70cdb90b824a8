/** Real local HTTP servers and a proxy on ephemeral ports, for the traffic tests. */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { after } from 'node:test';
import { validate, ProxyConfigSchema } from '../../../src/shadows/traffic/config.js';
import { TrafficProxy } from '../../../src/shadows/traffic/proxy.js';

/**
 * Everything started here and not closed yet. A test that fails half-way leaves its servers open;
 * they are closed when the file's tests end, so the file ends too instead of hanging.
 */
const open = new Set<() => Promise<void>>();
after(async () => {
  await Promise.all([...open].map((close) => close()));
});

/** `close` made idempotent and tracked in `open` until it has run. */
function tracked(close: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  const once = (): Promise<void> => {
    open.delete(once);
    return (closing ??= close());
  };
  open.add(once);
  return once;
}

/** A request as an upstream saw it. */
export interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A started upstream: its origin, the requests it saw, and close(). */
export interface TestUpstream {
  origin: string;
  port: number;
  seen: Seen[];
  close(): Promise<void>;
}

/** Starts an HTTP server on 127.0.0.1:0 whose `handler` answers after the body is read. */
export async function upstream(handler: (s: Seen, res: http.ServerResponse, req: http.IncomingMessage) => void = (_s, res) => res.end('ok\n')): Promise<TestUpstream> {
  const seen: Seen[] = [];
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const s = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks) };
      seen.push(s);
      handler(s, res, req);
    });
  });
  return listen(srv, seen);
}

/** A TCP server that accepts connections and never answers (a hung upstream). */
export async function hungServer(): Promise<TestUpstream & { connections: number }> {
  const sockets = new Set<net.Socket>();
  const state = { connections: 0 };
  const srv = net.createServer((s) => {
    state.connections++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
  });
  const u = await listen(srv, []);
  const plainClose = u.close;
  return Object.assign(u, {
    get connections() {
      return state.connections;
    },
    close: tracked(async () => {
      for (const s of sockets) s.destroy();
      await plainClose();
    }),
  });
}

/** A port on which nothing listens (bound then released). */
export async function refusedOrigin(): Promise<string> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

async function listen(srv: http.Server | net.Server, seen: Seen[]): Promise<TestUpstream> {
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as AddressInfo).port;
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    seen,
    close: tracked(() => new Promise<void>((r) => {
      if (srv instanceof http.Server) srv.closeAllConnections();
      srv.close(() => r());
    })),
  };
}

/** Starts a proxy on 127.0.0.1:0 with the given (unvalidated) config parts. */
export async function startProxy(cfg: Record<string, unknown>): Promise<{ proxy: TrafficProxy; url: string; port: number }> {
  const proxy = new TrafficProxy(validate(ProxyConfigSchema, { listen: '127.0.0.1:0', ...cfg }));
  const close = proxy.close.bind(proxy);
  let grace: number | undefined;
  const closeOnce = tracked(() => close(grace));
  proxy.close = (graceMs?: number) => {
    grace = graceMs;
    return closeOnce();
  };
  const addr = await proxy.listen();
  return { proxy, url: `http://127.0.0.1:${addr.port}`, port: addr.port };
}

/** A finished response: status, headers, body text. */
export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Sends one request (no keep-alive) and resolves with the whole answer. */
export function request(
  url: string,
  opts: { method?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer; agent?: http.Agent } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Polls `cond` every 10 ms until true; throws after `ms` (a deadline for async effects, not a timing assertion). */
export async function until(cond: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
