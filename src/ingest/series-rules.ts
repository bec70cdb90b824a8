/**
 * Series rules: how a labelled series pushed in another system's format (Prometheus remote-write,
 * OpenTelemetry OTLP) becomes metric samples of a target. A series is matched against the rules
 * in order; the first whose every `match` regex fully matches the label's value (a missing label
 * reads as "") decides the target (a fixed name, or the value of a label) and the labels kept on
 * the sample; the rest of the labels are dropped, so only the chosen metadata is stored. A series
 * no rule matches is left out and counted. The samples then go through the same ingest path as
 * `POST /v1/samples`: same validation, unknown-target and lateness rules.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FieldProblem } from '../core/errors.js';
import type { WireSample } from './schemas.js';

const LABEL_NAME = '^[a-zA-Z_][a-zA-Z0-9_]{0,62}$';

/** One rule of `ingest.seriesRules`. */
export const SeriesRuleSchema = Type.Object(
  {
    match: Type.Record(Type.String({ pattern: LABEL_NAME }), Type.String({ maxLength: 512 }), {
      default: {}, maxProperties: 16,
      description: 'Label name to regular expression (JavaScript syntax, anchored at both ends); every one must match. `__name__` is the metric name; a missing label reads as the empty string. `{}` matches every series.',
    }),
    target: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'The target every matched series belongs to.' })),
    targetLabel: Type.Optional(Type.String({ pattern: LABEL_NAME, description: 'Take the target name from this label instead (e.g. `job` or `service_name`); a series without it is rejected as invalid.' })),
    labels: Type.Array(Type.String({ pattern: LABEL_NAME }), { default: [], maxItems: 8, description: 'Labels kept on the sample (part of its series key, e.g. `mode` of `node_cpu_seconds_total`); every other label is dropped.' }),
  },
  { additionalProperties: false },
);

/** The rules as configured. */
export const SeriesRulesSchema = Type.Array(SeriesRuleSchema, {
  default: [],
  maxItems: 256,
  description: 'How series pushed over remote-write or OTLP map onto targets and metrics, first match wins; each rule has exactly one of `target` or `targetLabel`. Series no rule matches are left out (docs/integrations.md).',
});

/** One rule as configured. */
export type SeriesRule = Static<typeof SeriesRuleSchema>;

/** Problems of rules the schema cannot see (one of target / targetLabel, regexes that compile), paths under `at`. */
export function seriesRuleProblems(rules: readonly SeriesRule[], at: string): FieldProblem[] {
  const problems: FieldProblem[] = [];
  rules.forEach((r, i) => {
    if ((r.target === undefined) === (r.targetLabel === undefined)) problems.push({ path: `${at}/${i}`, message: 'needs exactly one of target or targetLabel' });
    for (const [label, re] of Object.entries(r.match)) {
      try {
        new RegExp(re);
      } catch (err) {
        problems.push({ path: `${at}/${i}/match/${label}`, message: `is not a valid regular expression: ${(err as Error).message}` });
      }
    }
  });
  return problems;
}

/** A series as it arrives: its metric name and labels (without `__name__`). */
export interface PushedSeries {
  readonly metric: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** A pushed series with its points (ms timestamps), in whatever format it came. */
export interface PushedPoints extends PushedSeries {
  readonly samples: readonly { readonly at: number; readonly value: number }[];
}

interface CompiledRule {
  readonly match: readonly (readonly [string, RegExp])[];
  readonly target?: string;
  readonly targetLabel?: string;
  readonly labels: readonly string[];
}

/** Rules compiled once; `map` turns a series into the sample fields it becomes, or undefined when no rule matches. */
export class SeriesMapper {
  private readonly rules: CompiledRule[];

  constructor(rules: readonly SeriesRule[]) {
    this.rules = rules.map((r) => ({
      match: Object.entries(r.match).map(([label, re]) => [label, new RegExp(`^(?:${re})$`)] as const),
      target: r.target,
      targetLabel: r.targetLabel,
      labels: r.labels,
    }));
  }

  /** The sample of `series` at `at` with `value` (not validated yet), or undefined when no rule matches. */
  map(series: PushedSeries, at: number, value: number): WireSample | undefined {
    const read = (label: string) => (label === '__name__' ? series.metric : (series.labels[label] ?? ''));
    const rule = this.rules.find((r) => r.match.every(([label, re]) => re.test(read(label))));
    if (!rule) return undefined;
    // An absent target label stays absent, so the sample is rejected naming /target.
    const target = rule.target ?? series.labels[rule.targetLabel!];
    const sample = { target, metric: series.metric, at, value } as WireSample;
    const kept = rule.labels.filter((l) => series.labels[l] !== undefined);
    if (kept.length > 0) sample.labels = Object.fromEntries(kept.map((l) => [l, series.labels[l]]));
    return sample;
  }
}
