/**
 * How the service talks to a shadow component over its admin HTTP API: the transport (`call`), the
 * check of every answer against the component's contract (`ask`), and the interface each kind's
 * adapter implements (adapters/*.ts, one per kind). The service imports nothing of the components'
 * running code: they are separate processes, and their contract modules (schemas only) are the
 * shared word on what they answer.
 */
import type { Static, TSchema } from '@sinclair/typebox';
import { ERROR_CATALOGUE, ShadowplaneError, type ErrorCode, type FieldProblem } from '../../core/errors.js';
import { problemsOf } from '../../core/validation.js';

/** One admin API: base URL, optional token, timeout. */
export interface Endpoint {
  readonly name: string;
  readonly url: string;
  readonly token?: string;
  readonly timeoutMs: number;
}

/** A path segment, encoded. */
export const seg = (s: string | number): string => encodeURIComponent(String(s));

/**
 * One request to a component; resolves to its JSON answer (null for an empty one). A transport
 * failure or timeout is SHADOWPLANE_ERR_SHADOW_UNREACHABLE; 401/403 and unreadable answers are
 * SHADOWPLANE_ERR_SHADOW_REFUSED; an error the component gives with a catalogue code is passed on
 * with that code, the detail prefixed with the component's name.
 */
export async function call(ep: Endpoint, method: string, path: string, body?: unknown): Promise<unknown> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (ep.token) headers.authorization = `Bearer ${ep.token}`;
  let res: Response;
  let text: string;
  try {
    res = await fetch(ep.url.replace(/\/$/, '') + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(ep.timeoutMs),
    });
    text = await res.text();
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const why = e.name === 'TimeoutError' ? `no answer within ${ep.timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
    throw new ShadowplaneError('SHADOWPLANE_ERR_SHADOW_UNREACHABLE', `shadow "${ep.name}" cannot be reached at ${ep.url}: ${why}`);
  }
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    const what = `shadow "${ep.name}" answered ${method} ${path} with HTTP ${res.status} and a body that is not JSON`;
    throw new ShadowplaneError('SHADOWPLANE_ERR_SHADOW_REFUSED', what);
  }
  if (res.ok) return data;
  const p = (data ?? {}) as { code?: string; detail?: string; title?: string; problems?: FieldProblem[] };
  const said = p.detail ?? p.title ?? `HTTP ${res.status}`;
  if (res.status === 401 || res.status === 403) {
    const what = `shadow "${ep.name}" refused the service (HTTP ${res.status}: ${said}); check the token registered for it`;
    throw new ShadowplaneError('SHADOWPLANE_ERR_SHADOW_REFUSED', what);
  }
  const code = p.code && p.code in ERROR_CATALOGUE && p.code !== 'SHADOWPLANE_ERR_UNAUTHORIZED' ? (p.code as ErrorCode) : 'SHADOWPLANE_ERR_SHADOW_REFUSED';
  throw new ShadowplaneError(code, `shadow "${ep.name}" answered HTTP ${res.status}: ${said}`, Array.isArray(p.problems) ? p.problems : []);
}

/**
 * `call`, then checks the answer against `answer`, the contract's schema for it: an answer off the
 * contract is SHADOWPLANE_ERR_SHADOW_REFUSED naming the first field and its rule (all of them in
 * the problems). Fields beyond the contract pass.
 */
export async function ask<S extends TSchema>(ep: Endpoint, method: string, path: string, answer: S, body?: unknown): Promise<Static<S>> {
  const data = await call(ep, method, path, body);
  const problems = problemsOf(answer, data);
  if (problems.length > 0) {
    const first = problems[0]!;
    const what = `shadow "${ep.name}" answered ${method} ${path} off its contract: ${first.path} ${first.message}`;
    throw new ShadowplaneError('SHADOWPLANE_ERR_SHADOW_REFUSED', what, problems);
  }
  return data as Static<S>;
}

/**
 * One kind of component as the service sees it: its status read (several requests folded into one
 * view) and the operator actions it carries out. `A` is the kind's actions, told apart by `op`.
 */
export interface ComponentAdapter<A extends { readonly op: string }> {
  /** The operations this kind carries out. */
  readonly ops: readonly A['op'][];
  /** Reads the component's status view. Rejects as `ask` does. */
  readStatus(ep: Endpoint): Promise<unknown>;
  /** Carries out `action`; `why` goes along where the component records a reason. Resolves to the component's answer. */
  act(ep: Endpoint, action: A, why: string): Promise<unknown>;
}
