/**
 * Schema building blocks shared by the configuration file, the API and the control settings:
 * durations, target names, labels, sampling rates and scrape settings, each with its rule message.
 */
import { FormatRegistry, Type, type StringOptions, type TNumber, type NumberOptions, type TString } from '@sinclair/typebox';
import { ShadowplaneError } from './errors.js';

/**
 * The largest magnitude of any number the Shadow Store takes in (bytes, latency, rows, metric
 * values) and of any total it keeps: window sums saturate here (see saturatingAdd), so no sum of
 * accepted values can overflow to ±Infinity or NaN, which neither backend can store.
 */
export const MAX_MAGNITUDE = 1e300;

/** The largest time the API takes, ms since the epoch: the end of JavaScript's date range (year 275760). */
export const MAX_TIME_MS = 8.64e15;

/** `a + b`, held within ±MAX_MAGNITUDE (NaN stays NaN: a value the door let through should never be one). */
export function saturatingAdd(a: number, b: number): number {
  const sum = a + b;
  if (sum > MAX_MAGNITUDE) return MAX_MAGNITUDE;
  if (sum < -MAX_MAGNITUDE) return -MAX_MAGNITUDE;
  return sum;
}

/** The format name of a string the store can hold (see isStorableText). */
export const TEXT_FORMAT = 'text';

/** The rule a string breaking TEXT_FORMAT is told. */
export const TEXT_RULE = 'must not contain a NUL character (\\u0000) or an unpaired UTF-16 surrogate';

/**
 * True when both backends can store `s` as text: PostgreSQL refuses NUL in text, and an unpaired
 * surrogate has no UTF-8 form (it would be stored as U+FFFD, a different key).
 */
export function isStorableText(s: string): boolean {
  return !s.includes('\0') && (s as string & { isWellFormed(): boolean }).isWellFormed();
}

FormatRegistry.Set(TEXT_FORMAT, isStorableText);

/** A free-form string the store can hold: no NUL, no unpaired surrogate (format `text`). */
export function Text(options: StringOptions = {}): TString {
  return Type.String({ ...options, format: TEXT_FORMAT });
}

/** A finite number within ±MAX_MAGNITUDE (narrower bounds in `options` win). */
export function Magnitude(options: NumberOptions = {}): TNumber {
  return Type.Number({ minimum: -MAX_MAGNITUDE, maximum: MAX_MAGNITUDE, ...options });
}

/** A duration as config and API take it: digits and one unit (ms, s, m, h, d). */
export const DURATION_PATTERN = '^[0-9]+(ms|s|m|h|d)$';

/** A duration such as `500ms`, `30s`, `5m`, `1h`, `7d`. */
export function Duration(description: string, defaultValue: string): TString {
  return Type.String({ pattern: DURATION_PATTERN, default: defaultValue, description, errorMessage: 'must be a duration such as 30s, 5m, 1h or 7d' });
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds in a duration string; throws on a string the schema would reject. */
export function durationMs(text: string): number {
  const match = /^([0-9]+)(ms|s|m|h|d)$/.exec(text);
  if (!match) throw new ShadowplaneError('SHADOWPLANE_ERR_CONFIG_INVALID', `"${text}" is not a duration such as 30s, 5m, 1h or 7d`);
  return Number(match[1]) * UNIT_MS[match[2]];
}

/** A target's name: what URLs, metrics and logs call it. */
export const TargetName = Type.String({
  pattern: '^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$',
  description: 'Lower-case letters, digits, `.`, `_` and `-`, 1 to 64 characters, starting and ending with a letter or digit.',
  errorMessage: 'must be 1-64 lower-case letters, digits, ".", "_" or "-", starting and ending with a letter or digit',
});

/** Labels of a target: a small, bounded map. */
export const Labels = Type.Record(Type.String({ pattern: '^[a-zA-Z_][a-zA-Z0-9_]{0,62}$' }), Type.String({ maxLength: 256 }), {
  maxProperties: 16,
  default: {},
  description: 'Free-form labels (at most 16), e.g. `team: payments`.',
});

/** A sampling rate in [0, 1]. */
export const SamplingRate = Type.Number({ minimum: 0, maximum: 1, default: 1, description: 'Share of requests whose metadata is kept, from 0 (none) to 1 (all).', errorMessage: 'must be a number between 0 and 1' });

/** Scrape interval when a target's scrape settings name none. */
export const DEFAULT_SCRAPE_INTERVAL = '15s';

/** Scrape settings of a target's Prometheus endpoint. */
export const ScrapeConfig = Type.Object(
  {
    url: Type.String({ pattern: '^https?://', description: 'The Prometheus text-format endpoint, e.g. `http://127.0.0.1:9187/metrics`.', errorMessage: 'must be an http:// or https:// URL' }),
    interval: Type.Optional(Duration('How often to scrape.', DEFAULT_SCRAPE_INTERVAL)),
  },
  { additionalProperties: false, description: 'Scrape this target\'s resource metrics from a Prometheus endpoint.' },
);
