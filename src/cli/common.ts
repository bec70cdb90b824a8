/** Helpers shared by the subcommands: argument parsers and the one way errors are printed. */
import { InvalidArgumentError } from 'commander';
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ShadowplaneError } from '../core/errors.js';
import { durationMs } from '../core/schema.js';

/** Prints an error for a person: the code, the message and each field problem on its own line. */
export function reportCliError(err: unknown): void {
  if (err instanceof ShadowplaneError) {
    process.stderr.write(`error ${err.code}: ${err.message}\n`);
    for (const p of err.problems) process.stderr.write(`  ${p.path}: ${p.message}\n`);
  } else if (err instanceof Error) {
    process.stderr.write(`error: ${err.message}\n`);
  } else {
    process.stderr.write(`error: ${String(err)}\n`);
  }
}

/** Commander parser for a positive integer option. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

/** Commander parser for a non-negative integer option. */
export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be a non-negative integer');
  return n;
}

/** The taps' `--window-ms` option: help text shared by pg-tap and http-tap. */
export const WINDOW_MS_HELP = 'capture window length in ms: below a rate of 25 % the capture is on only in windows covering that share of time (0: capture continuously)';

/** Commander parser for a number >= 1 (a factor). */
export function atLeastOne(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 1) throw new InvalidArgumentError('must be a number >= 1');
  return n;
}

/** Commander parser for a duration such as 30s, 5m or 1h, in ms. */
export function durationFlag(value: string): number {
  if (!/^[0-9]+(ms|s|m|h|d)$/.test(value)) throw new InvalidArgumentError('must be a duration such as 30s, 5m, 1h or 7d');
  return durationMs(value);
}

/** Commander parser for a number in [0, 1]. */
export function unitFraction(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError('must be a number between 0 and 1');
  return n;
}

/** Commander parser for a comma-separated list of positive integers, e.g. `24,168`. */
export function positiveIntList(value: string): number[] {
  return value.split(',').map((part) => {
    const n = Number(part.trim());
    if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError(`"${part}" must be a positive integer`);
    return n;
  });
}

/** Commander parser for one of a fixed set of words. */
export function oneOf<T extends string>(values: readonly T[]): (value: string) => T {
  return (value) => {
    if (!values.includes(value as T)) throw new InvalidArgumentError(`must be one of ${values.join(', ')}`);
    return value as T;
  };
}

/** Commander parser for HOST:PORT (port 0..65535). */
export function hostPort(value: string): { host: string; port: number } {
  const m = /^(.+):(\d+)$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new InvalidArgumentError('must be HOST:PORT with a port between 0 and 65535');
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

/** The control plane's bearer token a component sends with its telemetry: SHADOWPLANE_API_TOKEN, when set. */
export function serviceToken(): string | undefined {
  return process.env.SHADOWPLANE_API_TOKEN || undefined;
}

/** A running service's API: its address and bearer token. */
export interface Conn {
  url: string;
  token?: string;
}

/** Calls the API; throws a ShadowplaneError carrying the problem's code on an error answer. */
export async function api(conn: Conn, method: string, path: string, body?: unknown): Promise<unknown> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  const token = conn.token ?? serviceToken();
  if (token) headers.authorization = `Bearer ${token}`;
  let res: Response;
  try {
    res = await fetch(new URL(path, conn.url), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new ShadowplaneError('SHADOWPLANE_ERR_API_UNREACHABLE', `cannot reach the Shadowplane API at ${conn.url} (${cause?.code ?? cause?.message ?? (err as Error).message}): is the service running there? Start it with npm start, or pass --url`);
  }
  const text = await res.text();
  const json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  if (!res.ok) {
    const code = typeof json.code === 'string' && json.code.startsWith('SHADOWPLANE_ERR_') ? json.code : 'SHADOWPLANE_ERR_INTERNAL';
    throw new ShadowplaneError(code as never, `${res.status}: ${String(json.detail ?? text)}`, (json.problems as never) ?? []);
  }
  return json;
}

/**
 * Throws SHADOWPLANE_ERR_OUTPUT_FILE unless `path` can be written: its directory exists and is
 * writable, and the path is not a directory or a read-only file. Commands call it before they
 * start working, so a bad `--output` costs nothing and leaves nothing behind.
 */
export function checkWritable(path: string, option: string): void {
  const fail = (why: string): never => {
    throw new ShadowplaneError('SHADOWPLANE_ERR_OUTPUT_FILE', `cannot write ${path}: ${why}`, [{ path: option, message: `must be a writable file path (${why})` }]);
  };
  let stat;
  try {
    stat = statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') fail((err as NodeJS.ErrnoException).code ?? (err as Error).message);
  }
  if (stat?.isDirectory()) fail('it is a directory');
  const target = stat ? path : dirname(resolve(path));
  try {
    if (!stat && !statSync(target).isDirectory()) fail(`${target} is not a directory`);
    accessSync(target, constants.W_OK);
  } catch (err) {
    if (err instanceof ShadowplaneError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    fail(code === 'ENOENT' ? `directory ${target} does not exist` : code === 'EACCES' || code === 'EROFS' ? `${target} is not writable (${code})` : code ?? (err as Error).message);
  }
}
