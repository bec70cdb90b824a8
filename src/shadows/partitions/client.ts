/** A TypeScript producer client for the stream service's HTTP API. */
import type { AppendInput, AppendResult } from './service.js';

/** The answer to one append batch. */
export interface AppendResponse {
  readonly accepted: AppendResult[];
  readonly rejected: { path: string; message: string }[];
}

/** Sends records as NDJSON to `POST {baseUrl}/v1/records`. */
export class StreamClient {
  constructor(private readonly baseUrl: string) {}

  /**
   * Appends a batch. Resolves with accepted and rejected items; fails with an Error carrying the
   * problem+json detail on 4xx/5xx (the batch may be retried with the same ids).
   */
  async append(records: readonly AppendInput[]): Promise<AppendResponse> {
    const res = await fetch(`${this.baseUrl}/v1/records`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body: records.map((r) => JSON.stringify(r)).join('\n'),
    });
    const body = (await res.json()) as AppendResponse & { detail?: string; code?: string };
    if (!res.ok) throw new Error(`${body.code ?? res.status}: ${body.detail ?? res.statusText}`);
    return body;
  }
}
