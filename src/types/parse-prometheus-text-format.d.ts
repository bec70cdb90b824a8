declare module 'parse-prometheus-text-format' {
  /** One metric family of a Prometheus text exposition. Values are strings as written. */
  interface MetricFamily {
    name: string;
    help: string;
    type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
    metrics: {
      value?: string;
      labels?: Record<string, string>;
      timestamp_ms?: string;
      buckets?: Record<string, string>;
      quantiles?: Record<string, string>;
      count?: string;
      sum?: string;
    }[];
  }
  /** Parses the text format; throws on malformed input. */
  export default function parsePrometheusTextFormat(text: string): MetricFamily[];
}
