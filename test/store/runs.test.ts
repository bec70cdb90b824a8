import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ByteWriter } from '../../src/store/bytes.js';
import { WindowPacker } from '../../src/store/row-pack.js';
import { MAX_RUN, RunArena } from '../../src/store/runs.js';
import { sketchIndex } from '../../src/store/sketch.js';
import { Window, WindowValues } from '../../src/store/window.js';

test('runs never overlap, keep what was written through frees, reuse and moves, and are at most half again as long as asked', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('alloc' as const), length: fc.integer({ min: 1, max: 300 }) }),
    fc.record({ kind: fc.constant('free' as const), pick: fc.nat() }),
    fc.record({ kind: fc.constant('resize' as const), pick: fc.nat(), length: fc.integer({ min: 1, max: 600 }) }),
  );
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), fc.integer({ min: 4, max: 64 }), (ops, chunkLength) => {
      const arena = new RunArena(chunkLength);
      const live: { handle: number; used: number; mark: number }[] = [];
      let mark = 0;
      const fill = (run: { handle: number; used: number; mark: number }) => {
        const a = arena.array(run.handle);
        for (let i = 0; i < run.used; i++) a[arena.offset(run.handle) + i] = run.mark + i / 1000;
      };
      for (const o of ops) {
        if (o.kind === 'alloc') {
          const handle = arena.alloc(o.length);
          assert.ok(arena.length(handle) >= o.length && arena.length(handle) <= Math.max(2, 1.5 * o.length), `${arena.length(handle)} for ${o.length}`);
          const run = { handle, used: o.length, mark: ++mark };
          fill(run);
          live.push(run);
        } else if (live.length > 0) {
          const run = live[o.pick % live.length];
          if (o.kind === 'free') {
            arena.free(run.handle);
            live.splice(live.indexOf(run), 1);
          } else {
            const used = Math.min(run.used, o.length);
            run.handle = arena.resize(run.handle, used, o.length);
            run.used = used;
          }
        }
      }
      for (const run of live) {
        const a = arena.array(run.handle);
        for (let i = 0; i < run.used; i++) assert.equal(a[arena.offset(run.handle) + i], run.mark + i / 1000);
      }
    }),
  );
});

test('a run reads as float32s at twice its offset, and no run is longer than MAX_RUN', () => {
  const arena = new RunArena();
  arena.alloc(10);
  const handle = arena.alloc(4);
  arena.f32(handle)[2 * arena.offset(handle)] = 1.5;
  arena.f32(handle)[2 * arena.offset(handle) + 1] = 2.5;
  const back = new Float32Array(new Float64Array([arena.array(handle)[arena.offset(handle)]]).buffer);
  assert.deepEqual([...back], [1.5, 2.5]);
  assert.throws(() => arena.alloc(MAX_RUN + 1), /at most 262144 doubles/);
});

test('a released window gives its runs back: windows filled again and again take no more memory', () => {
  const values = new WindowValues(4);
  const fillOnce = () => {
    const w = new Window(0, 60, values);
    for (let i = 0; i < 200; i++) w.addRequest(i * 250, 1 + (i % 37), sketchIndex(1 + (i % 37)), 10, 1, false, 1, 1);
    w.release();
  };
  fillOnce();
  const held = values.runs.capacity;
  for (let round = 0; round < 20; round++) fillOnce();
  assert.equal(values.runs.capacity, held);
  assert.equal(values.size, 0);
});

test('shared buffers grow in place: what was taken or packed before stays readable', () => {
  const writer = new ByteWriter(8, 'growable');
  const first = writer.take(4);
  first.fill(7);
  for (let i = 0; i < 100_000; i++) writer.byte(i & 0xff);
  assert.equal(writer.view().buffer, first.buffer);
  assert.deepEqual([...first], [7, 7, 7, 7]);

  const packer = new WindowPacker(16, true);
  const w = new Window(60_000, 60);
  w.addSample(60_500, 3);
  for (let i = 0; i < 1000; i++) packer.add('t', 'metric', `k${i}`, false, w);
  const packed = packer.finish();
  assert.equal(packed.count, 1000);
  assert.equal(packed.row(999).key, 'k999');
  assert.equal(packed.row(0).sum, 3);
});
