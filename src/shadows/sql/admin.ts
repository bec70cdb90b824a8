/**
 * A small HTTP API beside the proxy or tap (the component kit's admin app), for the control plane:
 * `GET /v1/status` (counters and rates) and `PUT /v1/rates` with a JSON body
 * `{sampleRate?, writeRate?, readRate?}` (each in [0, 1]) to change sampling and shadow feeding at
 * run time. Request schemas and answers follow the contract (contract.ts); bad input gets a 400
 * naming the field and the rule; with a token, `PUT` needs it as a bearer token.
 */
import type { FastifyInstance } from 'fastify';
import type { ListenerTimeouts } from '../../api/app.js';
import { ShadowplaneError } from '../../core/errors.js';
import { startAdmin as startKitAdmin, type AdminRoutes } from '../kit/admin.js';
import { RatesBody, type RatesAnswer, type StatusAnswer } from './contract.js';
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

const routes = (parts: AdminParts): AdminRoutes => async (app) => {
  const rates = (): RatesAnswer => ({ sampleRate: parts.proxy.getSampleRate(), ...(parts.mirror?.rates() ?? {}) });
  app.get('/status', async (): Promise<StatusAnswer> => ({
    rates: rates(),
    engine: parts.proxy.engine,
    proxy: { ...parts.proxy.stats },
    sink: { ...parts.sink.stats },
    mirror: parts.mirror ? { ...parts.mirror.stats, waiting: parts.mirror.queued() } : null,
  }));
  app.put('/rates', { schema: { body: RatesBody } }, async (req): Promise<RatesAnswer> => {
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
    return rates();
  });
};

/**
 * Starts the API on `at` (port 0 picks one); resolves with the app once listening. Refuses an
 * address other than loopback without a token.
 */
export function startAdmin(parts: AdminParts, at: { host: string; port: number }, token?: string, timeouts?: ListenerTimeouts): Promise<FastifyInstance> {
  const what = `the pg-${parts.proxy.engine === 'tap' ? 'tap' : 'proxy'} admin API`;
  return startKitAdmin({ name: 'pg-proxy-admin', what, bodyLimit: 65_536, token, tokenEnv: 'SHADOWPLANE_PGPROXY_TOKEN', timeouts }, routes(parts), at);
}
