/**
 * Response comparison of mirrored requests: status, selected headers and body, JSON bodies
 * structurally with ignore rules, and noise cancellation against a secondary primary. Results
 * hold difference paths and kinds only, never body or header values.
 */

/** What kind of difference: the path says where. */
export type DiffKind = 'status' | 'header' | 'body' | 'missing' | 'extra' | 'type' | 'value';

/** One difference: a JSON pointer (or `status`, `header:<name>`, `body`) and its kind. */
export interface Difference {
  path: string;
  kind: DiffKind;
}

/** A captured response: status, headers and the body bytes when within the compare limit. */
export interface CapturedResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Undefined when the body exceeded the limit and was not kept. */
  body: Buffer | undefined;
}

/** Compiled ignore rules: a path is ignored when it or one of its ancestors matches a rule. */
export class IgnoreRules {
  private readonly patterns: RegExp[];
  /** `rules` are JSON pointers, `*` standing for one segment and `**` for any number. */
  constructor(rules: readonly string[]) {
    this.patterns = rules.map((r) => {
      const re = r
        .split('/')
        .slice(1)
        .map((seg) => (seg === '**' ? '(?:/[^/]*)*' : '/' + seg.split('*').map(escapeRegex).join('[^/]*')))
        .join('');
      return new RegExp(`^${re}(/.*)?$`);
    });
  }
  /** True when the JSON pointer `path` is ignored. */
  ignores(path: string): boolean {
    return this.patterns.some((p) => p.test(path));
  }
}

function escapeRegex(s: string): string {
  return s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
}

function pointerEscape(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

function jsonType(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

/** Structural differences between two parsed JSON values (paths are JSON pointers; `limit` caps the list). */
export function diffJson(a: unknown, b: unknown, ignore: IgnoreRules, limit = 100): Difference[] {
  const out: Difference[] = [];
  const walk = (x: unknown, y: unknown, path: string): void => {
    if (out.length >= limit || (path && ignore.ignores(path))) return;
    const tx = jsonType(x);
    const ty = jsonType(y);
    if (tx !== ty) {
      out.push({ path: path || '/', kind: 'type' });
      return;
    }
    if (tx === 'array') {
      const xa = x as unknown[];
      const ya = y as unknown[];
      const n = Math.max(xa.length, ya.length);
      for (let i = 0; i < n; i++) {
        const p = `${path}/${i}`;
        if (i >= ya.length) {
          if (!ignore.ignores(p)) out.push({ path: p, kind: 'missing' });
        } else if (i >= xa.length) {
          if (!ignore.ignores(p)) out.push({ path: p, kind: 'extra' });
        } else walk(xa[i], ya[i], p);
      }
      return;
    }
    if (tx === 'object') {
      const xo = x as Record<string, unknown>;
      const yo = y as Record<string, unknown>;
      for (const k of Object.keys(xo)) {
        const p = `${path}/${pointerEscape(k)}`;
        if (!(k in yo)) {
          if (!ignore.ignores(p)) out.push({ path: p, kind: 'missing' });
        } else walk(xo[k], yo[k], p);
      }
      for (const k of Object.keys(yo)) {
        const p = `${path}/${pointerEscape(k)}`;
        if (!(k in xo) && !ignore.ignores(p)) out.push({ path: p, kind: 'extra' });
      }
      return;
    }
    if (x !== y) out.push({ path: path || '/', kind: 'value' });
  };
  walk(a, b, '');
  return out.slice(0, limit);
}

function isJson(r: CapturedResponse): boolean {
  const ct = r.headers['content-type'];
  return typeof ct === 'string' && /[/+]json\b/i.test(ct);
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

/**
 * Differences between a reference answer (`a`, the primary) and a candidate (`b`). Bodies beyond
 * the limit (undefined) are not compared; JSON bodies that do not parse are compared as bytes.
 */
export function compareResponses(a: CapturedResponse, b: CapturedResponse, headers: readonly string[], ignore: IgnoreRules): Difference[] {
  const out: Difference[] = [];
  if (a.status !== b.status) out.push({ path: 'status', kind: 'status' });
  for (const h of headers) {
    const name = h.toLowerCase();
    if (headerValue(a.headers[name]) !== headerValue(b.headers[name])) out.push({ path: `header:${name}`, kind: 'header' });
  }
  if (a.body === undefined || b.body === undefined) return out;
  if (isJson(a) && isJson(b)) {
    const pa = tryParse(a.body);
    const pb = tryParse(b.body);
    if (pa.ok && pb.ok) return out.concat(diffJson(pa.value, pb.value, ignore));
  }
  if (!a.body.equals(b.body)) out.push({ path: 'body', kind: 'body' });
  return out;
}

function tryParse(buf: Buffer): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(buf.toString('utf8')) };
  } catch {
    return { ok: false };
  }
}

/** The verdict on one mirrored request after noise cancellation. */
export interface Verdict {
  result: 'match' | 'mismatch' | 'noise';
  /** Differences that remain after removing those also seen between the two primaries. */
  regressions: Difference[];
  noise: Difference[];
}

/**
 * Splits the shadow's differences into regressions and noise: a difference (same path and kind)
 * that also appears between primary and secondary primary is noise. Without a secondary answer
 * everything counts as a regression.
 */
export function judge(shadowDiffs: Difference[], primaryPairDiffs: Difference[] | undefined): Verdict {
  if (shadowDiffs.length === 0) return { result: 'match', regressions: [], noise: [] };
  const noisy = new Set((primaryPairDiffs ?? []).map((d) => `${d.kind} ${d.path}`));
  const regressions = shadowDiffs.filter((d) => !noisy.has(`${d.kind} ${d.path}`));
  const noise = shadowDiffs.filter((d) => noisy.has(`${d.kind} ${d.path}`));
  return { result: regressions.length ? 'mismatch' : 'noise', regressions, noise };
}

/** Per-route comparison statistics (since the last reset): counts, kinds, example paths. */
export interface ComparisonSummary {
  compared: number;
  matches: number;
  mismatches: number;
  noise: number;
  mismatchRate: number;
  kinds: Partial<Record<DiffKind, number>>;
  /** Most frequent regression paths (array indices kept), with counts; never values. */
  examples: { path: string; kind: DiffKind; count: number }[];
}

/** Accumulates verdicts for one route. Distinct example paths are capped at `maxPaths`. */
export class ComparisonStats {
  private compared = 0;
  private matches = 0;
  private mismatches = 0;
  private noiseCount = 0;
  private kinds: Partial<Record<DiffKind, number>> = {};
  private paths = new Map<string, { path: string; kind: DiffKind; count: number }>();
  constructor(private readonly maxPaths = 200) {}

  /** Adds one verdict. */
  add(v: Verdict): void {
    this.compared++;
    if (v.result === 'match') this.matches++;
    else if (v.result === 'noise') this.noiseCount++;
    else this.mismatches++;
    for (const d of v.regressions) {
      this.kinds[d.kind] = (this.kinds[d.kind] ?? 0) + 1;
      const key = `${d.kind} ${d.path}`;
      const e = this.paths.get(key);
      if (e) e.count++;
      else if (this.paths.size < this.maxPaths) this.paths.set(key, { ...d, count: 1 });
    }
  }

  /** Clears the counts (a migration step starts a new window). */
  reset(): void {
    this.compared = this.matches = this.mismatches = this.noiseCount = 0;
    this.kinds = {};
    this.paths.clear();
  }

  /** The summary; `examples` holds at most `top` paths. */
  summary(top = 20): ComparisonSummary {
    return {
      compared: this.compared,
      matches: this.matches,
      mismatches: this.mismatches,
      noise: this.noiseCount,
      mismatchRate: this.compared ? this.mismatches / this.compared : 0,
      kinds: { ...this.kinds },
      examples: [...this.paths.values()].sort((a, b) => b.count - a.count).slice(0, top),
    };
  }
}
