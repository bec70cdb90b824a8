/**
 * Schema building blocks shared by the configuration file, the API and the control settings:
 * durations, target names, labels, sampling rates and scrape settings, each with its rule message.
 */
import { Type, type TString } from '@sinclair/typebox';
import { ShadowplaneError } from './errors.js';

const DURATION_PATTERN = '^[0-9]+(ms|s|m|h|d)$';

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
