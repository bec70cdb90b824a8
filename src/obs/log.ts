/**
 * Our own structured logs (pino). One root logger; each module takes a child with its name.
 * Logs go to stderr so that commands can keep stdout for their results.
 */
import { pino, type Logger } from 'pino';

const level = process.env.SHADOWPLANE_LOG_LEVEL ?? (process.env.NODE_ENV === 'test' ? 'silent' : 'info');

/** The root logger, writing JSON lines to stderr. */
export const rootLogger: Logger = pino({ level, base: { service: 'shadowplane' } }, pino.destination(2));

/** A child logger for one module, e.g. `logger('store')`. */
export function logger(module: string): Logger {
  return rootLogger.child({ module });
}

export type { Logger };
