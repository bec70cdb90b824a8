/**
 * Prometheus remote-write 1.0 in: a `WriteRequest` (snappy block-compressed protobuf) decoded into
 * series and their samples. The message types are the part of Prometheus's `prompb/remote.proto`
 * and `prompb/types.proto` (Apache-2.0, github.com/prometheus/prometheus) that remote-write 1.0
 * samples use, with the same field numbers; exemplars, native histograms and metadata are skipped
 * as unknown fields. Decoding is protobufjs, decompression snappyjs.
 */
import protobuf from 'protobufjs';
import snappy from 'snappyjs';
import { ShadowplaneError } from '../core/errors.js';
import type { PushedPoints } from './series-rules.js';

const PROTO = `
syntax = "proto3";
package prometheus;
message WriteRequest { repeated TimeSeries timeseries = 1; }
message TimeSeries { repeated Label labels = 1; repeated Sample samples = 2; }
message Label { string name = 1; string value = 2; }
message Sample { double value = 1; int64 timestamp = 2; }
`;

const WriteRequest = protobuf.parse(PROTO).root.lookupType('prometheus.WriteRequest');

interface Long {
  toNumber(): number;
}
interface DecodedRequest {
  timeseries: { labels: { name: string; value: string }[]; samples: { value: number; timestamp: number | Long }[] }[];
}

/**
 * Decompresses and decodes a remote-write body. A body that would decompress beyond `maxBytes` is
 * SHADOWPLANE_ERR_PAYLOAD_TOO_LARGE; one that is not snappy or not a WriteRequest is
 * SHADOWPLANE_ERR_VALIDATION naming what failed.
 */
export function decodeWriteRequest(body: Buffer, maxBytes: number): PushedPoints[] {
  let raw: Uint8Array;
  try {
    raw = snappy.uncompress(body, maxBytes);
  } catch (err) {
    const message = (err as Error).message;
    if (/too big/.test(message)) throw new ShadowplaneError('SHADOWPLANE_ERR_PAYLOAD_TOO_LARGE', `the remote-write body decompresses beyond server.bodyLimit (${maxBytes} bytes): ${message}`);
    throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', 'the body is not snappy-compressed', [{ path: '/body', message: `must be a snappy block-compressed WriteRequest: ${message}` }]);
  }
  let request: DecodedRequest;
  try {
    request = WriteRequest.decode(raw) as unknown as DecodedRequest;
  } catch (err) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_VALIDATION', 'the body is not a remote-write WriteRequest', [{ path: '/body', message: `must be a protobuf prometheus.WriteRequest: ${(err as Error).message}` }]);
  }
  return request.timeseries.map((ts) => {
    let metric = '';
    const labels: Record<string, string> = {};
    for (const l of ts.labels) {
      if (l.name === '__name__') metric = l.value;
      else labels[l.name] = l.value;
    }
    return { metric, labels, samples: ts.samples.map((s) => ({ at: typeof s.timestamp === 'number' ? s.timestamp : s.timestamp.toNumber(), value: s.value })) };
  });
}

/** Encodes series as a snappy-compressed WriteRequest (what a Prometheus sends; tests and tools use it). */
export function encodeWriteRequest(series: readonly PushedPoints[]): Buffer {
  const message = WriteRequest.fromObject({
    timeseries: series.map((s) => ({
      labels: [{ name: '__name__', value: s.metric }, ...Object.entries(s.labels).map(([name, value]) => ({ name, value }))],
      samples: s.samples.map((x) => ({ value: x.value, timestamp: x.at })),
    })),
  });
  return Buffer.from(snappy.compress(WriteRequest.encode(message).finish()));
}
