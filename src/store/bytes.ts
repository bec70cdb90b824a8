/**
 * Varints (LEB128, up to 2^53 by arithmetic, so whole float64s fit) and float64s in a byte buffer:
 * the building blocks of the compact stored forms (sketches, packed window values).
 */

/** Bytes a shared buffer can grow to in place: its address space is reserved up front, its pages taken only as they are written. */
const IN_PLACE_LIMIT = 2 ** 31;

/**
 * A SharedArrayBuffer of `bytes` that can grow in place (growShared): growing by copying into a
 * new buffer leaves the old one (a fleet flush's tens of megabytes) resident until the garbage
 * collector frees it, beside the new one. Each reserves IN_PLACE_LIMIT of address space until it
 * is collected, and tens of thousands of them alive at once exhaust the process's: they are for
 * the few buffers filled again and again, not for one-off ones.
 */
export function growableShared(bytes: number): SharedArrayBuffer {
  return new SharedArrayBuffer(bytes, { maxByteLength: Math.max(bytes, IN_PLACE_LIMIT) });
}

/** Grows `buffer` in place to at least `bytes`; false when it cannot grow that far (the caller then copies into a new buffer). */
export function growShared(buffer: SharedArrayBuffer, bytes: number): boolean {
  if (!buffer.growable || bytes > buffer.maxByteLength) return false;
  if (bytes > buffer.byteLength) buffer.grow(bytes);
  return true;
}

/** Appends varints and float64s to a growing buffer. */
export class ByteWriter {
  private buf: Buffer;
  private length = 0;

  /**
   * A writer whose buffer starts at `capacity` bytes (it grows as needed); `shared` puts it in
   * shared memory, which another thread can be given without a copy, and `'growable'` in shared
   * memory that grows in place (see growableShared(): for a writer filled again and again, as a
   * flush's; each reserves 2 GiB of address space, so not for one-off writers).
   */
  constructor(
    capacity = 32,
    private readonly shared: boolean | 'growable' = false,
  ) {
    this.buf = this.alloc(Math.max(capacity, 8));
  }

  /** Bytes written so far. */
  get size(): number {
    return this.length;
  }

  byte(b: number): void {
    if (this.length === this.buf.length) this.grow(1);
    this.buf[this.length++] = b;
  }

  varint(v: number): void {
    while (v >= 0x80) {
      this.byte((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.byte(v);
  }

  f64(v: number): void {
    if (this.length + 8 > this.buf.length) this.grow(8);
    this.buf.writeDoubleLE(v, this.length);
    this.length += 8;
  }

  /** Appends raw bytes. */
  bytes(b: Uint8Array): void {
    if (this.length + b.length > this.buf.length) this.grow(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }

  /** The bytes written, as a copy. */
  toBuffer(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.length));
  }

  /** Makes room for `more` bytes beyond those written, in one allocation. */
  reserve(more: number): void {
    if (this.length + more > this.buf.length) this.grow(more);
  }

  /**
   * `length` bytes appended for the caller to fill in place. Like every view, valid until the
   * buffer is written over (rewind()); growing leaves views intact.
   */
  take(length: number): Buffer {
    this.reserve(length);
    this.length += length;
    return this.buf.subarray(this.length - length, this.length);
  }

  /** Starts over in the same buffer: views taken before see what is written next. */
  rewind(): void {
    this.length = 0;
  }

  /** The bytes written, without copying: valid until the next write. */
  view(): Buffer {
    return this.buf.subarray(0, this.length);
  }

  private alloc(size: number): Buffer {
    if (this.shared === 'growable') return Buffer.from(growableShared(size));
    return this.shared ? Buffer.from(new SharedArrayBuffer(size)) : Buffer.allocUnsafe(size);
  }

  private grow(need: number): void {
    const size = Math.max(this.buf.length * 2, this.length + need);
    if (this.shared === 'growable' && growShared(this.buf.buffer as SharedArrayBuffer, size)) {
      this.buf = Buffer.from(this.buf.buffer, 0, size);
      return;
    }
    const next = this.alloc(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
}

/** Reads what a ByteWriter wrote; throws RangeError past the end or on a malformed varint. */
export class ByteReader {
  /** The next byte to read. */
  at: number;

  constructor(private readonly view: Buffer, at = 0) {
    this.at = at;
  }

  /** True once every byte has been read. */
  get done(): boolean {
    return this.at === this.view.length;
  }

  varint(): number {
    let v = 0;
    let scale = 1;
    for (;;) {
      if (this.at >= this.view.length) throw new RangeError('buffer is truncated');
      const b = this.view[this.at++];
      v += (b & 0x7f) * scale;
      if (b < 0x80) return v;
      scale *= 0x80;
      if (scale > 2 ** 56) throw new RangeError('buffer holds a malformed varint');
    }
  }

  f64(): number {
    if (this.at + 8 > this.view.length) throw new RangeError('buffer is truncated');
    this.at += 8;
    return this.view.readDoubleLE(this.at - 8);
  }

  /** The bytes left, as a copy. */
  rest(): Buffer {
    const rest = Buffer.from(this.view.subarray(this.at));
    this.at = this.view.length;
    return rest;
  }
}
