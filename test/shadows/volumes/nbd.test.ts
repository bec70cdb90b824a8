import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NbdServer } from '../../../src/shadows/volumes/nbd.js';
import { stalledClient } from '../../helpers/sockets.js';
import { testVolume } from './helpers.js';

const run = promisify(execFile);
const qemuIo = await run('qemu-io', ['--version']).then(
  () => true,
  () => false,
);
const skip = qemuIo ? false : process.env.CI === 'true' ? false : 'qemu-io not installed (Debian qemu-utils)';

test('qemu-io writes, reads back and verifies a pattern over NBD; the volume sees the same bytes', { skip }, async () => {
  const vol = await testVolume();
  const server = new NbdServer(new Map([['vol1', vol]]));
  const port = await server.listen(0);
  try {
    const url = `nbd://127.0.0.1:${port}/vol1`;
    const io = (cmd: string) => run('qemu-io', ['-f', 'raw', '-c', cmd, url]);
    await io('write -P 0xab 8192 65536');
    await io('write -f -P 0xcd 100 1000'); // unaligned, with FUA
    const check = await io('read -P 0xab 8192 1000');
    assert.match(check.stdout, /read 1000\/1000 bytes/);
    await assert.rejects(io('read -P 0x00 8192 512'), /Pattern verification failed|fail/i);
    await io('flush');
    await io('discard 16384 4096');
    const got = await vol.read(0, 81920);
    const want = Buffer.alloc(81920);
    want.fill(0xab, 8192, 8192 + 65536);
    want.fill(0xcd, 100, 1100);
    want.fill(0, 16384, 20480);
    assert.equal(createHash('sha256').update(got).digest('hex'), createHash('sha256').update(want).digest('hex'));
    // qemu-img reads the whole export through the same server.
    const info = await run('qemu-img', ['info', '-f', 'raw', '--output=json', url]);
    assert.equal(JSON.parse(info.stdout)['virtual-size'], vol.size);
    const data = randomBytes(4096);
    await vol.write(4096 * 200, data);
    const back = await run('qemu-io', ['-f', 'raw', '-c', `read -v ${4096 * 200} 16`, url]);
    assert.match(back.stdout, new RegExp(data.subarray(0, 4).toString('hex').replace(/(..)/g, '$1 ').trim()));
  } finally {
    await server.close();
    await vol.close();
  }
});

test('a bad export name is refused and the server keeps serving', { skip }, async () => {
  const vol = await testVolume();
  const server = new NbdServer(new Map([['vol1', vol]]));
  const port = await server.listen(0);
  try {
    await assert.rejects(run('qemu-io', ['-f', 'raw', '-c', 'read 0 512', `nbd://127.0.0.1:${port}/nope`]));
    const ok = await run('qemu-io', ['-f', 'raw', '-c', 'read 0 512', `nbd://127.0.0.1:${port}/vol1`]);
    assert.match(ok.stdout, /read 512\/512/);
  } finally {
    await server.close();
    await vol.close();
  }
});

test('qemu-img copies a whole image into the volume and back (parallel NBD requests), byte for byte', { skip }, async () => {
  const vol = await testVolume();
  const server = new NbdServer(new Map([['vol1', vol]]));
  const port = await server.listen(0);
  const dir = await mkdtemp(join(tmpdir(), 'sp-nbd-'));
  try {
    const src = join(dir, 'src.img');
    const back = join(dir, 'back.img');
    const image = randomBytes(vol.size);
    await writeFile(src, image);
    const url = `nbd://127.0.0.1:${port}/vol1`;
    await run('qemu-img', ['convert', '-n', '-W', '-m', '8', '-f', 'raw', '-O', 'raw', src, url]);
    await run('qemu-img', ['convert', '-m', '8', '-f', 'raw', '-O', 'raw', url, back]);
    assert.equal(createHash('sha256').update(await readFile(back)).digest('hex'), createHash('sha256').update(image).digest('hex'));
    assert.equal(createHash('sha256').update(await readFile(join(vol.config.dir, 'live', 'vol1.img'))).digest('hex'), createHash('sha256').update(image).digest('hex'));
  } finally {
    await server.close();
    await vol.close();
  }
});

test('an NBD client sees no error when the live volume starts failing in the middle of its writes', { skip }, async () => {
  const vol = await testVolume();
  const server = new NbdServer(new Map([['vol1', vol]]));
  const port = await server.listen(0);
  try {
    const blocks = vol.size / 4096;
    const cmds = [];
    for (let i = 0; i < blocks; i++) cmds.push('-c', `write -P ${i % 256} ${i * 4096} 4096`);
    cmds.push('-c', 'flush');
    // A slow live device so the writes are still coming when it starts returning EIO.
    vol.injectLiveFaults({ addedLatencyMs: 5, eio: false });
    const client = run('qemu-io', ['-f', 'raw', ...cmds, `nbd://127.0.0.1:${port}/vol1`], { maxBuffer: 16 * 1024 * 1024 });
    while (vol.stats().writes < 50) await new Promise((r) => setTimeout(r, 1));
    vol.injectLiveFaults({ addedLatencyMs: 0, eio: true });
    const { stdout } = await client;
    assert.equal(stdout.match(/^wrote 4096\/4096 bytes/gm)?.length, blocks);
    assert.equal(vol.failover, 'failed-over');
    assert.ok(vol.stats().liveErrors >= 1);
    const want = Buffer.alloc(vol.size);
    for (let i = 0; i < blocks; i++) want.fill(i % 256, i * 4096, (i + 1) * 4096);
    const back = await run('qemu-io', ['-f', 'raw', ...Array.from({ length: blocks }, (_, i) => ['-c', `read -P ${i % 256} ${i * 4096} 4096`]).flat(), `nbd://127.0.0.1:${port}/vol1`], { maxBuffer: 16 * 1024 * 1024 });
    assert.equal(back.stdout.match(/^read 4096\/4096 bytes/gm)?.length, blocks);
    assert.equal(createHash('sha256').update(await vol.read(0, vol.size)).digest('hex'), createHash('sha256').update(want).digest('hex'));
  } finally {
    await server.close();
    await vol.close();
  }
});

test('a client that stalls in the handshake is disconnected after the handshake timeout; a real client is served, idle past it', { skip, timeout: 30_000 }, async () => {
  const vol = await testVolume();
  const server = new NbdServer(new Map([['vol1', vol]]), { handshakeTimeoutMs: 300 });
  const port = await server.listen(0);
  try {
    const stalled = await Promise.all([stalledClient(port, Buffer.from([0, 0])), stalledClient(port)]);
    // qemu-io idles between its two reads for longer than the handshake timeout.
    const ok = await run('qemu-io', ['-f', 'raw', '-c', 'read 0 512', '-c', 'sleep 600', '-c', 'read 512 512', `nbd://127.0.0.1:${port}/vol1`]);
    assert.equal(ok.stdout.match(/read 512\/512/g)?.length, 2);
    await Promise.all(stalled.map((s) => s.closed));
    assert.equal(server.handshakeTimeouts, 2);
  } finally {
    await server.close();
    await vol.close();
  }
});
