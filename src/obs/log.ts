/**
 * Our own structured logs (pino). One root logger; each module takes a child with its name.
 * Logs go to stderr so that commands can keep stdout for their results. The format is JSON lines
 * (for machines: `--log-format json`) or one readable line per record (for a person at a
 * terminal); `auto`, the default, picks human when stderr is a terminal and JSON otherwise.
 */
import { pino, type Logger } from 'pino';

const level = process.env.SHADOWPLANE_LOG_LEVEL ?? (process.env.NODE_ENV === 'test' ? 'silent' : 'info');

/** How log records are written. */
export type LogFormat = 'auto' | 'json' | 'human';

/** The accepted values of `--log-format` and SHADOWPLANE_LOG_FORMAT. */
export const LOG_FORMATS: readonly LogFormat[] = ['auto', 'json', 'human'];

const fd2 = pino.destination({ dest: 2, sync: true });
let human = false;

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const OWN = new Set(['level', 'time', 'service', 'module', 'msg', 'pid', 'hostname']);

/** One JSON record as a readable line: `12:00:01 WARN  proxy: message key=value ...`. */
export function humanLine(json: string): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const time = new Date(Number(rec.time)).toISOString().slice(11, 19);
  const lvl = (LEVELS[Number(rec.level)] ?? String(rec.level)).padEnd(5);
  const fields = Object.entries(rec)
    .filter(([k]) => !OWN.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`);
  return `${time} ${lvl} ${rec.module ? `${String(rec.module)}: ` : ''}${String(rec.msg ?? '')}${fields.length ? ` ${fields.join(' ')}` : ''}\n`;
}

/** Chooses the format of every logger (those made before too). `auto`: human on a terminal. */
export function setLogFormat(format: LogFormat): void {
  human = format === 'human' || (format === 'auto' && process.stderr.isTTY === true);
}

setLogFormat((LOG_FORMATS as readonly string[]).includes(process.env.SHADOWPLANE_LOG_FORMAT ?? '') ? (process.env.SHADOWPLANE_LOG_FORMAT as LogFormat) : 'auto');

/** The root logger, writing to stderr in the chosen format. */
export const rootLogger: Logger = pino({ level, base: { service: 'shadowplane' } }, { write: (line: string) => fd2.write(human ? humanLine(line) : line) });

/**
 * A warning that may repeat every second (a refused batch, an unreachable peer): logged the first
 * time, then at most once per `intervalMs` for the same key, saying how many repeats were left out.
 * Keys are compared with their numbers left out: "all 4 items were rejected" repeats "all 7 ...".
 */
export class RepeatWarning {
  private readonly seen = new Map<string, { at: number; skipped: number }>();

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Logs `msg` with `fields` unless the same key was logged less than `intervalMs` ago. Returns whether it logged. */
  warn(key: string, fields: Record<string, unknown>, msg: string): boolean {
    const t = this.now();
    key = key.replace(/\d+(\.\d+)?/g, '#');
    const last = this.seen.get(key);
    if (last && t - last.at < this.intervalMs) {
      last.skipped++;
      return false;
    }
    this.log.warn({ ...fields, ...(last?.skipped ? { repeatsNotLogged: last.skipped } : {}) }, msg);
    this.seen.set(key, { at: t, skipped: 0 });
    return true;
  }
}

/** A child logger for one module, e.g. `logger('store')`. */
export function logger(module: string): Logger {
  return rootLogger.child({ module });
}

export type { Logger };
