import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import { packRows, packRowsSliced, unpackRows } from '../../src/store/row-pack.js';
import { QuantileSketch } from '../../src/store/sketch.js';
import { Window, type WindowRow } from '../../src/store/window.js';

function row(target: string, key: string, final: boolean, latencies: number[]): WindowRow {
  const w = new Window(1_700_000_040_000, 60);
  for (const l of latencies) w.addRequest(w.start + 1500, l, Math.ceil(Math.log(l) / Math.log(1.01 / 0.99)), 10, 2, l > 50, 2, 0.5);
  return w.toRow(target, key === '' ? 'total' : 'column', key, final);
}

test('packed rows unpack to the same rows: strings, numbers that are not finite, flags and sketches', () => {
  const metric = new Window(1_700_000_040_000, 60);
  metric.addSample(1_700_000_041_000, -3.5);
  const rows: WindowRow[] = [
    row('orders-db', '', false, [1, 2.5, 99]),
    row('orders-db', 'orders.id', true, [0.3]),
    row('users-db', 'ünïcode.列', false, []),
    { ...row('users-db', 'orders.id', false, [7]), peak: 1e300, sum: -1e300 },
    metric.toRow('orders-db', 'metric', 'cpu{core="0"}', false),
  ];
  const packed = packRows(rows);
  assert.equal(packed.count, rows.length);
  assert.deepEqual(packed.strings.filter((s) => s === 'orders-db').length, 1, 'a string repeated across rows is stored once');
  const back = unpackRows(packed);
  assert.deepEqual(back, rows);
  assert.ok(Number.isNaN(back[2].min) && Number.isNaN(back[0].last), 'NaN survives');
  assert.ok(Buffer.isBuffer(back[1].sketch));
  assert.equal(QuantileSketch.fromBuffer(back[0].sketch).count, 3);
});

test('an empty batch packs and unpacks', () => {
  assert.deepEqual(unpackRows(packRows([])), []);
});

test('a packed batch survives a transfer to another thread', async () => {
  const rows = [row('a', 'k', true, [1, 2]), row('b', '', false, [3])];
  const packed = packRows(rows);
  const { port1, port2 } = new MessageChannel();
  const received = new Promise<typeof packed>((resolve) => port2.once('message', resolve));
  port1.postMessage(packed, [packed.buffer]);
  const got = await received;
  port1.close();
  port2.close();
  assert.equal(packed.buffer.byteLength, 0, 'the buffer moved rather than being copied');
  assert.deepEqual(unpackRows(got), rows);
});

test('rows packed in slices, with the event loop running between them, are the rows packRows() packs', async () => {
  const rows = Array.from({ length: 5000 }, (_, i) => row(`t${i % 37}`, i % 3 === 0 ? '' : `k${i}`, i % 2 === 0, [1 + (i % 50)]));
  let turns = 0;
  const ticker = setInterval(() => turns++, 0);
  const sliced = await packRowsSliced(rows, 0);
  clearInterval(ticker);
  assert.ok(turns > 0, 'timers ran between slices');
  assert.deepEqual(unpackRows(sliced), unpackRows(packRows(rows)));
  assert.deepEqual(unpackRows(sliced), rows);
});
