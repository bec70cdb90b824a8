/**
 * GET /v1/stream: server-sent events announcing changes (src/obs/events.ts) so the dashboard
 * re-reads what it shows instead of polling. Each event is `event: <type>` with a JSON `data`
 * line and the notification's sequence number as `id`; a comment every 15 s keeps idle proxies
 * from cutting the connection. Streams are ended when the server closes, so an open dashboard
 * never holds up a stop (tests, SIGTERM).
 */
import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { EventBus } from '../../obs/events.js';

const HEARTBEAT_MS = 15_000;
/** How long a client waits before reconnecting after the stream drops. */
const RETRY_MS = 3000;

/** What the stream route uses. */
export interface StreamRouteDeps {
  readonly events: Pick<EventBus, 'subscribe'>;
}

/** GET /v1/stream. */
export const streamRoutes: FastifyPluginAsyncTypebox<StreamRouteDeps> = async (app, { events }) => {
  /** The open streams, each with what ends it. */
  const open = new Map<ServerResponse, () => void>();
  app.addHook('preClose', async () => {
    for (const end of [...open.values()]) end();
  });

  app.get('/v1/stream', {
    schema: {
      tags: ['ops'],
      summary: 'Server-sent events: `decision`, `audit` (overrides, settings, approvals, sampling, shadow actions), `anomaly`, `target`, `shadow` and `capacity-run` notifications, each a JSON object naming what changed (read the resource for the data).',
    },
  }, (_req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(`retry: ${RETRY_MS}\n: connected\n\n`);
    const unsubscribe = events.subscribe((e) => res.write(`id: ${e.seq}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`));
    const heartbeat = setInterval(() => res.write(': ping\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    const end = () => {
      clearInterval(heartbeat);
      unsubscribe();
      open.delete(res);
      if (!res.writableEnded) res.end();
    };
    open.set(res, end);
    res.on('close', end);
  });
};
