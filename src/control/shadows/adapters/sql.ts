/** The PostgreSQL interceptor (docs/sql.md): its status (rates, engine, counters); rates changed. */
import { RatesAnswer, StatusAnswer, type RatesBody } from '../../../shadows/sql/contract.js';
import { ask, type ComponentAdapter } from '../adapter.js';

/** New sampling and shadow-feeding rates of an interceptor. */
export type SqlAction = { readonly op: 'rates'; readonly sampleRate?: number; readonly writeRate?: number; readonly readRate?: number };

/** The sql adapter. */
export const sqlAdapter: ComponentAdapter<SqlAction> = {
  ops: ['rates'],
  readStatus: (ep) => ask(ep, 'GET', '/v1/status', StatusAnswer),
  act(ep, action) {
    const { op: _op, ...rates } = action;
    return ask(ep, 'PUT', '/v1/rates', RatesAnswer, rates satisfies RatesBody);
  },
};
