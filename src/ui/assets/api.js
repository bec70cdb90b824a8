// The service's HTTP API as the dashboard uses it: same origin, problem+json errors, the bearer
// token from sessionStorage on every change.

const TOKEN_KEY = 'shadowplane.token';

/** The token of this tab ('' when none). */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

/** Keeps the token for this tab only; '' forgets it. */
export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** An API failure: `status` 0 when the service could not be reached. */
export class ApiError extends Error {
  constructor(status, message, problems = [], code = '') {
    super(message);
    this.status = status;
    this.problems = problems;
    this.code = code;
  }
}

/** One request; resolves to the parsed body, rejects with ApiError. */
export async function api(method, path, body) {
  const headers = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (method !== 'GET' && token()) headers.authorization = `Bearer ${token()}`;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, 'the service cannot be reached');
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  // A gateway's answer, or a service closing its connections, rather than one of the service's own problems.
  if ((res.status === 502 || res.status === 503 || res.status === 504) && !data?.detail) throw new ApiError(0, 'the service cannot be reached');
  if (!res.ok) {
    const problems = data?.problems ?? [];
    const detail = [data?.detail ?? data?.title ?? `HTTP ${res.status}`, ...problems.map((p) => `${p.path}: ${p.message}`)].join('; ');
    throw new ApiError(res.status, detail, problems, data?.code ?? '');
  }
  return data;
}

/** GET that answers null on 4xx (e.g. a target that is not controlled), rejects otherwise. */
export async function maybe(path) {
  try {
    return await api('GET', path);
  } catch (err) {
    if (err.status >= 400 && err.status < 500) return null;
    throw err;
  }
}
