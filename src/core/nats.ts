/**
 * The one way Shadowplane connects to NATS JetStream (the stream service's replica log and the
 * ingest stream share it): connect, check that JetStream answers, and report a failure as
 * SHADOWPLANE_ERR_STREAM_BACKEND naming the server.
 */
import { jetstream, jetstreamManager, JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ShadowplaneError } from './errors.js';

/** The default NATS server. */
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

/** A connection with JetStream's manager and client on it. */
export interface JetStreamConnection {
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
  readonly js: JetStreamClient;
}

/** SHADOWPLANE_ERR_STREAM_BACKEND for a failed JetStream step (`what`). */
export function streamBackendError(what: string, err: unknown): ShadowplaneError {
  return new ShadowplaneError('SHADOWPLANE_ERR_STREAM_BACKEND', `jetstream: ${what}: ${err instanceof Error ? err.message : String(err)}`);
}

/** JetStream's codes for a stream (10059) or message (10037) that does not exist. */
export function isJetStreamNotFound(err: unknown): boolean {
  return err instanceof JetStreamApiError && (err.code === 10059 || err.code === 10037 || err.status === 404);
}

/** Connects to `url` and checks that JetStream answers; SHADOWPLANE_ERR_STREAM_BACKEND when it cannot. */
export async function connectJetStream(url = DEFAULT_NATS_URL, timeoutMs = 2000): Promise<JetStreamConnection> {
  let nc: NatsConnection;
  try {
    nc = await connect({ servers: url, timeout: timeoutMs, maxReconnectAttempts: 5 });
  } catch (err) {
    throw streamBackendError(`cannot connect to ${url}`, err);
  }
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.getAccountInfo();
    return { nc, jsm, js: jetstream(nc) };
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw streamBackendError('JetStream is not enabled or not answering', err);
  }
}
