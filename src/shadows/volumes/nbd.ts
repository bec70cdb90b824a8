/**
 * An NBD server (newstyle, fixed handshake) exporting volumes, so real clients such as qemu-io,
 * qemu-img and nbd-client can use them. Options: EXPORT_NAME, GO, INFO, LIST, ABORT (others are
 * answered "unsupported", which clients handle: they fall back to simple replies). Commands: READ,
 * WRITE (with FUA), FLUSH, TRIM (zeroes the range through the normal write path), WRITE_ZEROES,
 * DISC. Requests on a connection run concurrently; every reply is a simple reply.
 * Protocol errors close the connection; I/O errors are returned as NBD errors (EIO, EINVAL).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { realClock, type Clock } from '../../core/clock.js';
import { logger } from '../../obs/log.js';
import type { Volume } from './volume.js';

const log = logger('volumes.nbd');

const NBDMAGIC = 0x4e42444d41474943n;
const IHAVEOPT = 0x49484156454f5054n;
const REPLY_MAGIC = 0x3e889045565a9n;
const REQUEST_MAGIC = 0x25609513;
const SIMPLE_REPLY_MAGIC = 0x67446698;

const FLAG_FIXED_NEWSTYLE = 1;
const FLAG_NO_ZEROES = 2;

const OPT = { EXPORT_NAME: 1, ABORT: 2, LIST: 3, INFO: 6, GO: 7 } as const;
const REP = { ACK: 1, SERVER: 2, INFO: 3, ERR_UNSUP: 0x80000001, ERR_INVALID: 0x80000003, ERR_UNKNOWN: 0x80000006 } as const;
const INFO_EXPORT = 0;
const INFO_BLOCK_SIZE = 3;

const TX_HAS_FLAGS = 1;
const TX_SEND_FLUSH = 4;
const TX_SEND_FUA = 8;
const TX_SEND_TRIM = 32;
const TX_SEND_WRITE_ZEROES = 64;
const TX_FLAGS = TX_HAS_FLAGS | TX_SEND_FLUSH | TX_SEND_FUA | TX_SEND_TRIM | TX_SEND_WRITE_ZEROES;

const CMD = { READ: 0, WRITE: 1, DISC: 2, FLUSH: 3, TRIM: 4, WRITE_ZEROES: 6 } as const;
const EIO = 5;
const EINVAL = 22;
const MAX_PAYLOAD = 32 * 1024 * 1024;
const MAX_IN_FLIGHT = 64;

/** Buffers a socket's bytes so the protocol can await exact lengths. */
class ByteReader {
  private chunks: Buffer[] = [];
  private have = 0;
  private waiter: (() => void) | null = null;
  private ended = false;

  constructor(socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.chunks.push(d);
      this.have += d.length;
      this.waiter?.();
    });
    const end = (): void => {
      this.ended = true;
      this.waiter?.();
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', end);
  }

  /** Resolves with exactly n bytes, or rejects when the peer went away first. */
  async read(n: number): Promise<Buffer> {
    while (this.have < n) {
      if (this.ended) throw new Error('connection closed');
      await new Promise<void>((r) => (this.waiter = r));
      this.waiter = null;
    }
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.have = rest.length;
    return Buffer.from(out);
  }
}

function optionReply(option: number, type: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(20);
  h.writeBigUInt64BE(REPLY_MAGIC, 0);
  h.writeUInt32BE(option, 8);
  h.writeUInt32BE(type, 12);
  h.writeUInt32BE(data.length, 16);
  return Buffer.concat([h, data]);
}

function simpleReply(handle: Buffer, error: number, data?: Buffer): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
  h.writeUInt32BE(error, 4);
  handle.copy(h, 8);
  return data ? Buffer.concat([h, data]) : h;
}

/** Settings of an NbdServer. */
export interface NbdServerOptions {
  /**
   * A client that has not chosen an export this many ms after connecting is disconnected, so
   * half-open connections cannot pile up (default 10,000). Transmission has no timeout: an idle
   * block device is normal.
   */
  readonly handshakeTimeoutMs?: number;
  /** Time source of the handshake timeout; default the wall clock. */
  readonly clock?: Clock;
}

/** An NBD server over a set of volumes keyed by export name. */
export class NbdServer {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  /** Connections closed because their handshake did not finish in time. */
  handshakeTimeouts = 0;

  /** `volumes` is looked up on every handshake, so volumes added later are exported too. */
  constructor(
    private readonly volumes: ReadonlyMap<string, Volume>,
    options: NbdServerOptions = {},
  ) {
    const handshakeMs = options.handshakeTimeoutMs ?? 10_000;
    const clock = options.clock ?? realClock;
    this.server = createServer((socket) => {
      this.sockets.add(socket);
      const cancelTimer = clock.setTimer(handshakeMs, () => {
        this.handshakeTimeouts++;
        socket.destroy();
      });
      socket.on('close', () => {
        cancelTimer();
        this.sockets.delete(socket);
      });
      socket.setNoDelay(true);
      this.session(socket, cancelTimer).catch((err: Error) => {
        log.debug({ err: err.message }, 'nbd session ended');
        socket.destroy();
      });
    });
  }

  /** Listens on host:port (port 0 picks one); resolves with the bound port. */
  listen(port: number, host = '127.0.0.1'): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        const addr = this.server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });
  }

  /** Stops listening and drops open connections. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** Runs one connection: handshake, then (calling `negotiated` in between) transmission. */
  private async session(socket: Socket, negotiated: () => void): Promise<void> {
    const rd = new ByteReader(socket);
    const hello = Buffer.alloc(18);
    hello.writeBigUInt64BE(NBDMAGIC, 0);
    hello.writeBigUInt64BE(IHAVEOPT, 8);
    hello.writeUInt16BE(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES, 16);
    socket.write(hello);
    const clientFlags = (await rd.read(4)).readUInt32BE(0);
    const noZeroes = (clientFlags & FLAG_NO_ZEROES) !== 0;
    const volume = await this.negotiate(socket, rd, noZeroes);
    negotiated();
    if (volume) await this.transmit(socket, rd, volume);
  }

  /** Runs the option haggling; resolves with the chosen volume, or undefined when the client aborted. */
  private async negotiate(socket: Socket, rd: ByteReader, noZeroes: boolean): Promise<Volume | undefined> {
    for (;;) {
      const head = await rd.read(16);
      if (head.readBigUInt64BE(0) !== IHAVEOPT) throw new Error('bad option magic');
      const option = head.readUInt32BE(8);
      const length = head.readUInt32BE(12);
      if (length > 65536) throw new Error('option too long');
      const data = await rd.read(length);
      switch (option) {
        case OPT.EXPORT_NAME: {
          const volume = this.volumes.get(data.toString('utf8'));
          if (!volume) throw new Error(`unknown export ${data.toString('utf8')}`);
          const reply = Buffer.alloc(noZeroes ? 10 : 134);
          reply.writeBigUInt64BE(BigInt(volume.size), 0);
          reply.writeUInt16BE(TX_FLAGS, 8);
          socket.write(reply);
          return volume;
        }
        case OPT.ABORT:
          socket.write(optionReply(option, REP.ACK));
          socket.end();
          return undefined;
        case OPT.LIST:
          for (const name of this.volumes.keys()) {
            const n = Buffer.from(name, 'utf8');
            const d = Buffer.alloc(4 + n.length);
            d.writeUInt32BE(n.length, 0);
            n.copy(d, 4);
            socket.write(optionReply(option, REP.SERVER, d));
          }
          socket.write(optionReply(option, REP.ACK));
          break;
        case OPT.INFO:
        case OPT.GO: {
          if (length < 6) {
            socket.write(optionReply(option, REP.ERR_INVALID));
            break;
          }
          const nameLen = data.readUInt32BE(0);
          const name = data.subarray(4, 4 + nameLen).toString('utf8');
          const volume = this.volumes.get(name);
          if (!volume) {
            socket.write(optionReply(option, REP.ERR_UNKNOWN, Buffer.from(`no export named ${name}`)));
            break;
          }
          const exp = Buffer.alloc(12);
          exp.writeUInt16BE(INFO_EXPORT, 0);
          exp.writeBigUInt64BE(BigInt(volume.size), 2);
          exp.writeUInt16BE(TX_FLAGS, 10);
          socket.write(optionReply(option, REP.INFO, exp));
          const bsz = Buffer.alloc(14);
          bsz.writeUInt16BE(INFO_BLOCK_SIZE, 0);
          bsz.writeUInt32BE(1, 2);
          bsz.writeUInt32BE(volume.config.blockSize, 6);
          bsz.writeUInt32BE(MAX_PAYLOAD, 10);
          socket.write(optionReply(option, REP.INFO, bsz));
          socket.write(optionReply(option, REP.ACK));
          if (option === OPT.GO) return volume;
          break;
        }
        default:
          socket.write(optionReply(option, REP.ERR_UNSUP));
      }
    }
  }

  /**
   * Serves commands until DISC or a protocol error. Commands run concurrently (up to
   * MAX_IN_FLIGHT) and are answered as they finish, as NBD allows; the volume orders writes and
   * flushes in arrival order, so a FLUSH covers every write received before it.
   */
  private async transmit(socket: Socket, rd: ByteReader, volume: Volume): Promise<void> {
    const inFlight = new Set<Promise<void>>();
    for (;;) {
      const req = await rd.read(28);
      if (req.readUInt32BE(0) !== REQUEST_MAGIC) throw new Error('bad request magic');
      const type = req.readUInt16BE(6);
      const handle = req.subarray(8, 16);
      const offset = Number(req.readBigUInt64BE(16));
      const length = req.readUInt32BE(24);
      if (type === CMD.WRITE && length > MAX_PAYLOAD) throw new Error(`write of ${length} bytes exceeds ${MAX_PAYLOAD}`);
      const payload = type === CMD.WRITE ? await rd.read(length) : undefined;
      if (type === CMD.DISC) {
        await Promise.all(inFlight);
        socket.end();
        return;
      }
      const job = this.execute(volume, type, offset, length, payload)
        .then(
          (result) => (typeof result === 'number' ? simpleReply(handle, result) : simpleReply(handle, 0, result)),
          (err: Error) => {
            log.warn({ err: err.message, type, offset, length }, 'nbd request failed');
            return simpleReply(handle, EIO);
          },
        )
        .then((reply) => {
          if (!socket.destroyed) socket.write(reply);
        })
        .finally(() => inFlight.delete(job));
      inFlight.add(job);
      if (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
    }
  }

  /** Runs one command; resolves with the read data, or an errno (0 for success without data). */
  private async execute(volume: Volume, type: number, offset: number, length: number, payload: Buffer | undefined): Promise<Buffer | number> {
    const inRange = offset + length <= volume.size && length <= MAX_PAYLOAD;
    switch (type) {
      case CMD.READ:
        return inRange ? volume.read(offset, length) : EINVAL;
      case CMD.WRITE:
        if (!inRange) return EINVAL;
        // write() resolves only once the data is fdatasync'ed, so FUA is honoured by every write.
        await volume.write(offset, payload as Buffer);
        return 0;
      case CMD.TRIM:
      case CMD.WRITE_ZEROES:
        if (!inRange) return EINVAL;
        await volume.write(offset, Buffer.alloc(length));
        return 0;
      case CMD.FLUSH:
        await volume.flush();
        return 0;
      default:
        return EINVAL;
    }
  }
}
