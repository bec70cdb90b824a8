/**
 * A bare TCP relay in Node (no framing, no sampling): `node --import tsx bench/sql/relay-floor.ts PORT`
 * forwards 127.0.0.1:PORT to PostgreSQL at 127.0.0.1:5432 with 'data' events and write(), with
 * backpressure. `bench/sql/pgbench.ts --floor` runs it as a peer: its CPU per transaction is what
 * Node's socket path costs before the proxy does anything of its own.
 */
import net from 'node:net';

const forward = (from: net.Socket, to: net.Socket): void => {
  from.on('data', (chunk: Buffer) => { if (!to.write(chunk)) { from.pause(); to.once('drain', () => from.resume()); } });
  from.on('end', () => to.end());
  from.on('error', () => from.destroy());
  from.on('close', () => to.destroy());
};

net.createServer((client) => {
  client.pause();
  const upstream = net.connect(5432, '127.0.0.1', () => { forward(client, upstream); forward(upstream, client); client.resume(); });
  client.setNoDelay(true);
  upstream.setNoDelay(true);
  upstream.on('error', () => client.destroy());
}).listen(Number(process.argv[2]), '127.0.0.1');
