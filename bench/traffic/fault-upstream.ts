/**
 * An upstream with injectable faults, run as its own process for the migration scenarios.
 * usage: node dist/bench/traffic/fault-upstream.js <port> <name>
 * Answers every request with 200 `{"order":1,"status":"open"}` (the same data on every instance)
 * and header x-served-by: <name>;
 * `POST /__fault?latencyMs=N&errorRate=F` changes the injected latency and 503 share;
 * `GET /health` answers 503 while errorRate >= 0.5, else 200 (after the injected latency).
 */
import http from 'node:http';

const port = Number(process.argv[2]);
const name = process.argv[3] ?? 'upstream';
let latencyMs = 0;
let errorRate = 0;

const srv = http.createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/__fault') {
    latencyMs = Number(url.searchParams.get('latencyMs') ?? latencyMs);
    errorRate = Number(url.searchParams.get('errorRate') ?? errorRate);
    res.end(JSON.stringify({ latencyMs, errorRate }));
    return;
  }
  req.resume();
  const send = () => {
    const fail = url.pathname === '/health' ? errorRate >= 0.5 : Math.random() < errorRate;
    const body = fail ? `{"error":"${name} failing"}` : '{"order":1,"status":"open"}';
    res.writeHead(fail ? 503 : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-served-by': name });
    res.end(body);
  };
  if (latencyMs > 0) setTimeout(send, latencyMs);
  else send();
});
srv.keepAliveTimeout = 65_000;
srv.listen(port, '127.0.0.1', () => process.stdout.write(`listening ${port} ${name}\n`));
process.on('SIGTERM', () => process.exit(0));
