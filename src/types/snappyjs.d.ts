declare module 'snappyjs' {
  /** Snappy block compression (the format Prometheus remote-write bodies use). */
  export function compress(input: Uint8Array): Uint8Array;
  /** Decompresses a snappy block; throws when it is malformed or would exceed `maxLength` bytes. */
  export function uncompress(input: Uint8Array, maxLength?: number): Uint8Array;
  const snappy: { compress: typeof compress; uncompress: typeof uncompress };
  export default snappy;
}
