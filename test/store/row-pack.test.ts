import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MessageChannel } from 'node:worker_threads';
import { PackedWindows, WindowPacker, type PackedWindowsData } from '../../src/store/row-pack.js';
import { QuantileSketch } from '../../src/store/sketch.js';
import { Window, type WindowRow } from '../../src/store/window.js';

function window(latencies: number[]): Window {
  const w = new Window(1_700_000_040_000, 60);
  for (const l of latencies) w.addRequest(w.start + 1500, l, Math.ceil(Math.log(l) / Math.log(1.01 / 0.99)), 10, 2, l > 50, 2, 0.5);
  return w;
}

function row(target: string, key: string, final: boolean, latencies: number[]): WindowRow {
  return window(latencies).toRow(target, key === '' ? 'total' : 'column', key, final);
}

test('packed rows read back as the same rows: strings, numbers that are not finite, flags and sketches', () => {
  const metric = new Window(1_700_000_040_000, 60);
  metric.addSample(1_700_000_041_000, -3.5);
  const rows: WindowRow[] = [
    row('orders-db', '', false, [1, 2.5, 99]),
    row('orders-db', 'orders.id', true, [0.3]),
    row('users-db', 'ünïcode.列', false, []),
    { ...row('users-db', 'orders.id', false, [7]), peak: 1e300, sum: -1e300 },
    metric.toRow('orders-db', 'metric', 'cpu{core="0"}', false),
  ];
  const packed = PackedWindows.of(rows);
  assert.equal(packed.count, rows.length);
  assert.equal(packed.length, rows.length);
  assert.deepEqual(packed.strings.filter((s) => s === 'orders-db').length, 1, 'a string repeated across rows is stored once');
  const back = packed.rows();
  assert.deepEqual(back, rows);
  assert.deepEqual([...packed], rows, 'iterating yields the rows');
  assert.ok(Number.isNaN(back[2].min) && Number.isNaN(back[0].last), 'NaN survives');
  assert.ok(Buffer.isBuffer(back[1].sketch));
  assert.equal(QuantileSketch.fromBuffer(back[0].sketch).count, 3);
  assert.equal(packed.target(3), 'users-db');
  assert.equal(packed.dim(4), 'metric');
  assert.equal(packed.key(2), 'ünïcode.列');
  assert.equal(packed.final(1), true);
});

test('windows packed straight from memory are the rows toRow() gives', () => {
  const windows = [window([1, 2.5, 99]), window([]), window([0.3, 0.3, 12])];
  const packer = new WindowPacker(1); // grows past its first capacity
  const rows: WindowRow[] = [];
  for (let i = 0; i < 40; i++) {
    const w = windows[i % windows.length];
    const final = i % 2 === 0;
    packer.add(`t${i % 7}`, i % 5 === 0 ? 'total' : 'user', i % 5 === 0 ? '' : `u${i}`, final, w);
    rows.push(w.toRow(`t${i % 7}`, i % 5 === 0 ? 'total' : 'user', i % 5 === 0 ? '' : `u${i}`, final));
  }
  const packed = packer.finish();
  assert.deepEqual(packed.rows(), rows);
  assert.equal(packer.size, 0, 'the packer starts over');
  assert.equal(packer.finish().count, 0);
});

test('an empty batch packs and reads back', () => {
  assert.deepEqual(PackedWindows.of([]).rows(), []);
  assert.equal(PackedWindows.concat([]).count, 0);
});

test('slices view the batch; concatenated batches keep their order and strings', () => {
  const rows = Array.from({ length: 50 }, (_, i) => row(`t${i % 9}`, i % 3 === 0 ? '' : `k${i}`, i % 2 === 0, [1 + (i % 40)]));
  const packed = PackedWindows.of(rows);
  assert.deepEqual(packed.slice(10, 20).rows(), rows.slice(10, 20));
  assert.deepEqual(packed.slice(45, 99).rows(), rows.slice(45));
  const other = PackedWindows.of(rows.slice(0, 5).map((r) => ({ ...r, target: `other-${r.target}` })));
  const both = PackedWindows.concat([packed.slice(0, 30), other, packed.slice(30)]);
  assert.deepEqual(both.rows(), [...rows.slice(0, 30), ...other.rows(), ...rows.slice(30)]);
});

test('a packed batch posted to another thread is shared, not copied, and reads back the same', async () => {
  const rows = [row('a', 'k', true, [1, 2]), row('b', '', false, [3])];
  const packed = PackedWindows.of(rows);
  assert.ok(packed.numbers.buffer instanceof SharedArrayBuffer);
  const { port1, port2 } = new MessageChannel();
  const received = new Promise<PackedWindowsData>((resolve) => port2.once('message', resolve));
  port1.postMessage(packed.data());
  const got = new PackedWindows(await received);
  port1.close();
  port2.close();
  assert.deepEqual(got.rows(), rows);
  packed.numbers[2] = 42; // count of the first window, seen through the other side's view
  assert.equal(got.row(0).count, 42, 'both sides see one memory');
});
