/** Raw TCP clients for testing how listeners treat connections that stall. */
import net from 'node:net';

/**
 * Connects to 127.0.0.1:`port`, writes `bytes` (nothing when omitted) and never sends more.
 * `closed` resolves with what the server sent once it closes the connection.
 */
export async function stalledClient(port: number, bytes?: Buffer | string): Promise<{ socket: net.Socket; closed: Promise<Buffer> }> {
  const socket = net.connect(port, '127.0.0.1');
  const received: Buffer[] = [];
  socket.on('data', (d: Buffer) => received.push(d));
  socket.on('error', () => undefined);
  const closed = new Promise<Buffer>((resolve) => socket.once('close', () => resolve(Buffer.concat(received))));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  if (bytes !== undefined) socket.write(bytes);
  return { socket, closed };
}

/** Short timeouts for listeners under test. */
export const SHORT_TIMEOUTS = { headersMs: 200, requestMs: 400, idleMs: 2000 };

/**
 * Opens three stalled HTTP clients on 127.0.0.1:`port` — one silent, one stopping inside its
 * headers, one stopping inside its body — runs `served` (real requests that must be answered
 * meanwhile) and resolves once the listener has closed all three.
 */
export async function stalledHttpClientsClosed(port: number, served: () => Promise<void>): Promise<void> {
  const stalled = await Promise.all([
    stalledClient(port),
    stalledClient(port, 'GET /v1/status HTTP/1.1\r\nHost: x\r\n'),
    stalledClient(port, 'PUT /v1/nothing HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"a'),
  ]);
  await served();
  await Promise.all(stalled.map((s) => s.closed));
}
