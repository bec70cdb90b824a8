/**
 * A small HTTP API beside the proxy, for the control plane: `GET /v1/status` (counters and rates)
 * and `PUT /v1/rates` with a JSON body `{sampleRate?, writeRate?, readRate?}` (each in [0, 1]) to
 * change sampling and shadow feeding at run time. Bad input gets a 400 naming the field and the
 * rule; with a token, `PUT` needs it as a bearer token. Built on the same app as the service's API.
 */
import type http from 'node:http';
import { Type, type Static } from '@sinclair/typebox';
import { assertSafeBind, buildApp, type ListenerTimeouts } from '../../api/app.js';
import { ShadowplaneError } from '../../core/errors.js';
import type { SamplingSource } from './proxy.js';
import type { ShadowMirror } from './mirror.js';
import type { EventSink } from './sink.js';

/** Parts the admin API reports on and adjusts. */
export interface AdminParts {
  /** The proxy or the tap. */
  proxy: SamplingSource;
  sink: EventSink;
  mirror?: ShadowMirror;
}

const Rate = Type.Optional(Type.Number({ minimum: 0, maximum: 1, errorMessage: 'must be a number between 0 and 1' }));
const RatesBody = Type.Object({ sampleRate: Rate, writeRate: Rate, readRate: Rate }, { additionalProperties: false });

/**
 * Starts the API on host:port; resolves with the server once listening (port 0 picks one).
 * Refuses an address other than loopback without a token.
 */
export async function startAdmin(parts: AdminParts, port: number, host = '127.0.0.1', token?: string, timeouts?: ListenerTimeouts): Promise<http.Server> {
  assertSafeBind(`the pg-${parts.proxy.engine === 'tap' ? 'tap' : 'proxy'} admin API`, host, token, 'SHADOWPLANE_PGPROXY_TOKEN');
  const app = buildApp({ name: 'pg-proxy-admin', bodyLimit: 65_536, token, tokenSource: 'SHADOWPLANE_PGPROXY_TOKEN', timeouts });
  app.get('/v1/status', async () => ({
    rates: { sampleRate: parts.proxy.getSampleRate(), ...(parts.mirror?.rates() ?? {}) },
    engine: parts.proxy.engine,
    proxy: parts.proxy.stats,
    sink: parts.sink.stats,
    mirror: parts.mirror ? { ...parts.mirror.stats, waiting: parts.mirror.queued() } : null,
  }));
  app.put<{ Body: Static<typeof RatesBody> }>('/v1/rates', { schema: { body: RatesBody } }, async (req) => {
    const b = req.body;
    if (!parts.mirror) {
      const shadowOnly = (['writeRate', 'readRate'] as const).filter((k) => b[k] !== undefined);
      if (shadowOnly.length > 0) {
        throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', 'no shadow is configured', shadowOnly.map((k) => ({ path: `/body/${k}`, message: 'needs a shadow (--shadow)' })));
      }
    }
    if (b.sampleRate !== undefined) parts.proxy.setSampleRate(b.sampleRate);
    parts.mirror?.setRates(b);
    parts.proxy.syncRates();
    return { sampleRate: parts.proxy.getSampleRate(), ...(parts.mirror?.rates() ?? {}) };
  });
  await app.listen({ port, host });
  return app.server;
}
