/**
 * Statement normalisation: a PostgreSQL lexer that replaces every literal (strings, numbers,
 * bit/hex strings, dollar-quoted bodies) with a positional parameter and drops comments, so the
 * result — the fingerprint — never carries a value. Identifiers and keywords are kept (unquoted
 * words lower-cased, as PostgreSQL folds them); `$n` parameters already in the text are kept and
 * literals are numbered after the highest of them, like pg_stat_statements does.
 */

/** One literal the normaliser removed: where it was in the original text (never its value). */
export interface LiteralSpan {
  /** Offset of the literal's first character in the original statement. */
  readonly start: number;
  /** Offset just after it. */
  readonly end: number;
  /** The parameter number that replaced it in the fingerprint. */
  readonly param: number;
}

/** The fingerprint of a statement and the positions of the literals it replaced. */
export interface Normalised {
  /** Normalised text: literals as `$n`, comments removed, whitespace collapsed, words lower-cased. */
  readonly fingerprint: string;
  /** Literal spans in order of appearance. */
  readonly literals: readonly LiteralSpan[];
  /** Highest `$n` that appeared in the original text (0 when none). */
  readonly maxParam: number;
  /**
   * False when a string, quoted identifier, dollar-quoted body or block comment runs to the end of
   * the text: such a text is not valid SQL even where another with the same fingerprint is.
   */
  readonly complete: boolean;
}

const isDigit = (c: string): boolean => c >= '0' && c <= '9';
// By character code rather than a regular expression per character: the tap and the proxy run this
// on every kept query. Any code unit from U+0080 up is a letter to PostgreSQL's lexer.
const isIdentStart = (c: string): boolean => {
  const k = c.charCodeAt(0);
  return (k >= 97 && k <= 122) || (k >= 65 && k <= 90) || k === 95 || k >= 0x80;
};
const isIdentChar = (c: string): boolean => {
  const k = c.charCodeAt(0);
  return isIdentStart(c) || (k >= 48 && k <= 57) || k === 36;
};
const OPERATOR_CHARS = '+-*/<>=~!@#%^&|`?';
/** Keywords after which a minus is a sign, not subtraction. */
const UNARY_CONTEXT = new Set(['select', 'where', 'and', 'or', 'not', 'then', 'else', 'when', 'case', 'values', 'set', 'by', 'limit', 'offset', 'between', 'in', 'return', 'returning', 'as', 'is', 'like']);

/**
 * Normalises one SQL text (one or several statements). Never throws: an unterminated string or
 * comment runs to the end of the text and is still replaced, so even SQL the parser rejects
 * yields a literal-free fingerprint.
 */
export function normalise(sql: string): Normalised {
  type Tok = { kind: 'word' | 'quoted' | 'param' | 'literal' | 'op' | 'punct'; text: string; start: number; end: number };
  const toks: Tok[] = [];
  const n = sql.length;
  let i = 0;
  let maxParam = 0;
  let complete = true;
  while (i < n) {
    const c = sql[i];
    const start = i;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f') {
      i++;
    } else if (c === '-' && sql[i + 1] === '-') {
      while (i < n && sql[i] !== '\n') i++;
    } else if (c === '/' && sql[i + 1] === '*') {
      // Block comments nest in PostgreSQL.
      let depth = 0;
      while (i < n) {
        if (sql[i] === '/' && sql[i + 1] === '*') { depth++; i += 2; }
        else if (sql[i] === '*' && sql[i + 1] === '/') { depth--; i += 2; if (depth === 0) break; }
        else i++;
      }
      if (depth > 0) complete = false;
    } else if (c === "'" || ((c === 'E' || c === 'e' || c === 'B' || c === 'b' || c === 'X' || c === 'x' || c === 'N' || c === 'n') && sql[i + 1] === "'")
      || ((c === 'U' || c === 'u') && sql[i + 1] === '&' && sql[i + 2] === "'")) {
      const backslashEscapes = c === 'E' || c === 'e';
      i = sql.indexOf("'", i) + 1;
      let closed = false;
      while (i < n) {
        if (backslashEscapes && sql[i] === '\\') { i += 2; continue; }
        if (sql[i] === "'") {
          if (sql[i + 1] === "'") { i += 2; continue; }
          i++;
          closed = true;
          break;
        }
        i++;
      }
      if (!closed) complete = false;
      if (i > n) i = n;
      toks.push({ kind: 'literal', text: '', start, end: i });
    } else if (c === '$' && isDigit(sql[i + 1] ?? '')) {
      i++;
      while (i < n && isDigit(sql[i])) i++;
      const p = Number(sql.slice(start + 1, i));
      if (p > maxParam) maxParam = p;
      toks.push({ kind: 'param', text: sql.slice(start, i), start, end: i });
    } else if (c === '$') {
      const m = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(sql.slice(i, i + 64));
      if (m) {
        const close = sql.indexOf(m[0], i + m[0].length);
        if (close < 0) complete = false;
        i = close < 0 ? n : close + m[0].length;
        toks.push({ kind: 'literal', text: '', start, end: i });
      } else {
        i++;
        toks.push({ kind: 'punct', text: '$', start, end: i });
      }
    } else if (isDigit(c) || (c === '.' && isDigit(sql[i + 1] ?? ''))) {
      if (c === '0' && /[xXoObB]/.test(sql[i + 1] ?? '')) {
        i += 2;
        while (i < n && /[0-9A-Fa-f_]/.test(sql[i])) i++;
      } else {
        while (i < n && /[0-9_]/.test(sql[i])) i++;
      }
      if (sql[i] === '.' && sql[i + 1] !== '.') { i++; while (i < n && /[0-9_]/.test(sql[i])) i++; }
      if (/[eE]/.test(sql[i] ?? '') && /[0-9]/.test(sql[i + 1] === '+' || sql[i + 1] === '-' ? sql[i + 2] ?? '' : sql[i + 1] ?? '')) {
        i += sql[i + 1] === '+' || sql[i + 1] === '-' ? 2 : 1;
        while (i < n && isDigit(sql[i])) i++;
      }
      // A unary minus belongs to the constant, as in the server's grammar and pg_stat_statements.
      const prev = toks[toks.length - 1];
      const before = toks[toks.length - 2];
      if (prev && prev.kind === 'op' && prev.text === '-' && prev.end === start
        && !(before && (before.kind === 'quoted' || before.kind === 'param' || before.kind === 'literal' || before.text === ')' || (before.kind === 'word' && !UNARY_CONTEXT.has(before.text))))) {
        toks.pop();
        toks.push({ kind: 'literal', text: '', start: prev.start, end: i });
      } else toks.push({ kind: 'literal', text: '', start, end: i });
    } else if (c === '"') {
      i++;
      let closed = false;
      while (i < n) {
        if (sql[i] === '"') { if (sql[i + 1] === '"') { i += 2; continue; } i++; closed = true; break; }
        i++;
      }
      if (!closed) complete = false;
      toks.push({ kind: 'quoted', text: sql.slice(start, i), start, end: i });
    } else if (isIdentStart(c)) {
      while (i < n && isIdentChar(sql[i])) i++;
      toks.push({ kind: 'word', text: sql.slice(start, i).toLowerCase(), start, end: i });
    } else if (OPERATOR_CHARS.includes(c)) {
      while (i < n && OPERATOR_CHARS.includes(sql[i]) && !(sql[i] === '-' && sql[i + 1] === '-') && !(sql[i] === '/' && sql[i + 1] === '*')) i++;
      toks.push({ kind: 'op', text: sql.slice(start, i), start, end: i });
    } else {
      i++;
      toks.push({ kind: 'punct', text: c, start, end: i });
    }
  }
  const literals: LiteralSpan[] = [];
  let next = maxParam;
  const parts: string[] = [];
  let prev: Tok | undefined;
  for (const t of toks) {
    let text = t.text;
    if (t.kind === 'literal') {
      next++;
      literals.push({ start: t.start, end: t.end, param: next });
      text = `$${next}`;
    }
    // A space only where two tokens would otherwise fuse or where the source had one.
    if (prev !== undefined && (prev.end < t.start || needsSpace(prev.kind, t.kind))) parts.push(' ');
    parts.push(text);
    prev = t;
  }
  return { fingerprint: parts.join('').trim(), literals, maxParam, complete };
}

function needsSpace(a: string, b: string): boolean {
  const wordy = (k: string): boolean => k === 'word' || k === 'quoted' || k === 'param' || k === 'literal';
  return (wordy(a) && wordy(b)) || (a === 'op' && b === 'op');
}
