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
