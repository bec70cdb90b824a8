/**
 * PostgreSQL v3 protocol framing, tracked beside the byte stream: the proxy forwards each chunk
 * as it arrives and hands the same chunk to a FrameTracker, which finds message boundaries and
 * materialises only the bodies its caller asks for (query text, command tags, errors). Chunks
 * may live in a read buffer that is reused after `feed` returns, so nothing keeps a view of one.
 */

/** Startup-phase request codes (the 32-bit word after the length of an untyped first message). */
export const PROTOCOL_3 = 196608;
export const SSL_REQUEST = 80877103;
export const GSSENC_REQUEST = 80877104;
export const CANCEL_REQUEST = 80877102;

/** Receives one framed message: its type byte, total wire length, and body when wanted. */
export type MessageHandler = (type: number, wireLength: number, body: Buffer | undefined) => void;

/**
 * Incremental framer for typed messages (type byte + int32 length). `wanted` says which types'
 * bodies to collect; others are skipped without copying. A wanted body inside one chunk is handed
 * over as a view of that chunk, valid only during the call; one split across chunks is copied.
 * A length below 4 means the stream is not PostgreSQL: the tracker then stops and reports
 * `broken` (the bytes are still forwarded).
 */
export class FrameTracker {
  private readonly header = Buffer.alloc(5);
  private headerLen = 0;
  private remaining = 0;
  private type = 0;
  private wireLength = 0;
  private parts: Buffer[] | undefined;
  /** True once a malformed length was seen; nothing more is reported. */
  broken = false;

  constructor(private readonly wanted: (type: number) => boolean, private readonly onMessage: MessageHandler) {}

  /** Consumes one chunk of the stream. Never throws on bad input: it sets `broken` instead. */
  feed(chunk: Buffer): void {
    let off = 0;
    const n = chunk.length;
    while (off < n && !this.broken) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, n - off);
        if (this.parts) this.parts.push(Buffer.from(chunk.subarray(off, off + take)));
        this.remaining -= take;
        off += take;
        if (this.remaining === 0) this.finish();
        continue;
      }
      let len: number;
      if (this.headerLen === 0 && n - off >= 5) {
        this.type = chunk[off];
        len = chunk.readInt32BE(off + 1);
        off += 5;
      } else {
        while (this.headerLen < 5 && off < n) this.header[this.headerLen++] = chunk[off++];
        if (this.headerLen < 5) return;
        this.type = this.header[0];
        len = this.header.readInt32BE(1);
        this.headerLen = 0;
      }
      if (len < 4) { this.broken = true; return; }
      this.wireLength = len + 1;
      this.remaining = len - 4;
      const want = this.wanted(this.type);
      if (this.remaining === 0) { this.onMessage(this.type, this.wireLength, want ? Buffer.alloc(0) : undefined); continue; }
      if (want && n - off >= this.remaining) {
        // Whole body in this chunk: no copy.
        const body = chunk.subarray(off, off + this.remaining);
        off += this.remaining;
        this.remaining = 0;
        this.onMessage(this.type, this.wireLength, body);
        continue;
      }
      this.parts = want ? [] : undefined;
    }
  }

  private finish(): void {
    const body = this.parts ? Buffer.concat(this.parts) : undefined;
    this.parts = undefined;
    this.onMessage(this.type, this.wireLength, body);
  }
}

/** Reads a NUL-terminated string at `offset`; returns it and the offset after the NUL. */
export function readCString(buf: Buffer, offset: number): [string, number] {
  const end = cStringEnd(buf, offset);
  return [buf.toString('utf8', offset, end), end + 1];
}

/** Offset of the NUL ending the string at `offset` (the buffer's length when there is none). */
export function cStringEnd(buf: Buffer, offset: number): number {
  const end = buf.indexOf(0, offset);
  return end < 0 ? buf.length : end;
}

/** The SQLSTATE (field `C`) of an ErrorResponse body, or `XX000` when absent. */
export function sqlState(body: Buffer): string {
  let off = 0;
  while (off < body.length && body[off] !== 0) {
    const field = body[off];
    const [value, next] = readCString(body, off + 1);
    if (field === 0x43 /* C */) return value;
    off = next;
  }
  return 'XX000';
}

/** Row count of a CommandComplete tag (`SELECT 5`, `INSERT 0 3`, `UPDATE 2`); undefined when it has none. */
export function tagRows(body: Buffer): number | undefined {
  const [tag] = readCString(body, 0);
  const m = /\s(\d+)$/.exec(tag);
  return m ? Number(m[1]) : undefined;
}

/** Parameters of a StartupMessage body (after length and protocol code): user, database, options... */
export function startupParams(msg: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let off = 8;
  while (off < msg.length && msg[off] !== 0) {
    const [k, a] = readCString(msg, off);
    const [v, b] = readCString(msg, a);
    out.set(k, v);
    off = b;
  }
  return out;
}

/**
 * Decodes a Bind body: portal, statement, and the parameter values as text (null for SQL NULL).
 * Returns undefined when a parameter is sent in binary format (it cannot be replayed as text).
 */
export function decodeBind(body: Buffer): { portal: string; statement: string; values: (string | null)[] | undefined } {
  const [portal, a] = readCString(body, 0);
  const [statement, b] = readCString(body, a);
  let off = b;
  const nFormats = body.readInt16BE(off); off += 2;
  const formats: number[] = [];
  for (let i = 0; i < nFormats; i++) { formats.push(body.readInt16BE(off)); off += 2; }
  const nParams = body.readInt16BE(off); off += 2;
  const values: (string | null)[] = [];
  for (let i = 0; i < nParams; i++) {
    const format = nFormats === 0 ? 0 : nFormats === 1 ? formats[0] : formats[i];
    const len = body.readInt32BE(off); off += 4;
    if (len < 0) { values.push(null); continue; }
    if (format !== 0) return { portal, statement, values: undefined };
    values.push(body.toString('utf8', off, off + len));
    off += len;
  }
  return { portal, statement, values };
}

/** An ErrorResponse message the proxy itself sends (e.g. upstream unreachable). */
export function errorResponse(code: string, message: string): Buffer {
  const fields = Buffer.concat([
    Buffer.from('SFATAL\0VFATAL\0C' + code + '\0M' + message + '\0', 'utf8'),
    Buffer.from([0]),
  ]);
  const head = Buffer.alloc(5);
  head[0] = 0x45;
  head.writeInt32BE(fields.length + 4, 1);
  return Buffer.concat([head, fields]);
}
