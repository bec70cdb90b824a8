/**
 * The sampling verdict. With a request id the verdict is a pure function of (id, rate), so every
 * component that sees the same request (a proxy pre-sampling, the service re-checking) agrees,
 * and sampling twice at the same rate keeps exactly the same requests.
 */
import crypto from 'node:crypto';

/** A hash of the request id mapped to [0, 1): the request is kept when that is below `rate`. */
export function sampleUnit(requestId: string): number {
  // The one-shot hash (Node >= 20.12) costs a third of a Hash object; both give the first 32 bits of the SHA-1.
  if (crypto.hash) return parseInt(crypto.hash('sha1', requestId).slice(0, 8), 16) / 0x1_0000_0000;
  return crypto.createHash('sha1').update(requestId).digest().readUInt32BE(0) / 0x1_0000_0000;
}

/**
 * Whether to keep a request at sampling rate `rate` (in [0, 1]). Deterministic when `requestId`
 * is given; otherwise `random` (default Math.random) decides.
 */
export function keepSample(rate: number, requestId?: string, random: () => number = Math.random): boolean {
  if (rate >= 1) return true;
  if (rate <= 0) return false;
  return (requestId === undefined ? random() : sampleUnit(requestId)) < rate;
}
