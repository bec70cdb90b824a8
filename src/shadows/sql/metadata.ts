/**
 * Statement metadata from the real PostgreSQL parser (libpg-query, the server's own grammar
 * compiled to WASM): operation, tables touched, the columns of each, and which column each
 * literal or parameter is compared with (so a synthetic workload can draw values from a shadow's
 * own data). Names only — no value from the statement ever leaves this module.
 */
import { loadModule, parseSync } from 'libpg-query';
import type { Operation } from '../../model/event.js';
import { normalise } from './normalize.js';

/** Columns of each table, by unqualified table name: lets unqualified column names be resolved. */
export type Catalog = ReadonlyMap<string, ReadonlySet<string>>;

/** One table a statement touches. */
export interface TableAccess {
  /** Table name, `schema.table` when the statement qualified it. */
  readonly table: string;
  /** `write` for the target of INSERT/UPDATE/DELETE/MERGE/COPY FROM/TRUNCATE, `read` otherwise. */
  readonly op: Operation;
  /** Columns referenced, sorted; `*` for a star. */
  readonly columns: readonly string[];
}

/** A column a parameter (or a literal, after normalisation) is compared with or assigned to. */
export interface ParamBinding {
  readonly table: string;
  readonly column: string;
}

/** What one statement does, by name only. */
export interface StatementMeta {
  /** Parse-tree node type, e.g. `SelectStmt`, `TransactionStmt`. */
  readonly kind: string;
  /** `read`/`write` for data statements; undefined for utility statements (BEGIN, SET, DDL...). */
  readonly op: Operation | undefined;
  /** Normalised text without literals (see normalise). */
  readonly fingerprint: string;
  /** Tables touched; the main one (DML target or first FROM item) first. */
  readonly tables: readonly TableAccess[];
  /** Column names whose table could not be determined (ambiguous without a catalog). */
  readonly unresolved: readonly string[];
  /** Fingerprint parameter number → the column it binds to, where that can be seen in the tree. */
  readonly params: ReadonlyMap<number, ParamBinding>;
}

let loaded: Promise<void> | undefined;

/** Loads the parser's WASM module once; every other function here needs it to have resolved. */
export function initParser(): Promise<void> {
  loaded ??= loadModule();
  return loaded;
}

/**
 * Parses `sql` (one or more statements) and returns one StatementMeta per statement.
 * Throws the parser's SqlError when the text is not valid PostgreSQL; call initParser first.
 */
export function extractMetadata(sql: string, catalog?: Catalog): StatementMeta[] {
  const tree = parseSync(sql) as { stmts?: { stmt: Node; stmt_location?: number; stmt_len?: number }[] };
  const out: StatementMeta[] = [];
  for (const raw of tree.stmts ?? []) {
    const loc = raw.stmt_location ?? 0;
    const text = raw.stmt_len ? sql.slice(loc, loc + raw.stmt_len) : sql.slice(loc);
    const norm = normalise(text);
    const literalParam = new Map<number, number>();
    for (const l of norm.literals) {
      literalParam.set(l.start + loc, l.param);
      // The parser folds a leading minus into the constant and reports the minus's position.
      if (text[l.start - 1] === '-') literalParam.set(l.start - 1 + loc, l.param);
    }
    const w = new Walker(catalog, literalParam);
    const kind = Object.keys(raw.stmt)[0];
    const op = w.statement(raw.stmt, undefined);
    out.push({
      kind,
      op,
      fingerprint: norm.fingerprint,
      tables: w.result(),
      unresolved: [...w.unresolved].sort(),
      params: w.params,
    });
  }
  return out;
}

/**
 * A parse tree node as libpg-query gives it: untyped JSON, read field by field as the grammar
 * defines it. Typing every node the walker reads would restate the grammar here.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Node = Record<string, any>;

class Scope {
  /** alias or name → table (null for a derived table or CTE reference). */
  readonly sources = new Map<string, string | null>();
  readonly ctes = new Set<string>();
  readonly outputAliases = new Set<string>();
  constructor(readonly parent: Scope | undefined) {}
  isCte(name: string): boolean {
    return this.ctes.has(name) || (this.parent?.isCte(name) ?? false);
  }
  realTables(): string[] {
    return [...new Set([...this.sources.values()].filter((t): t is string => t !== null))];
  }
}

class Walker {
  private readonly order: string[] = [];
  private readonly cols = new Map<string, Set<string>>();
  private readonly ops = new Map<string, Operation>();
  readonly unresolved = new Set<string>();
  readonly params = new Map<number, ParamBinding>();

  constructor(private readonly catalog: Catalog | undefined, private readonly literalParam: Map<number, number>) {}

  result(): TableAccess[] {
    return this.order.map((t) => ({ table: t, op: this.ops.get(t) ?? 'read', columns: [...(this.cols.get(t) ?? [])].sort() }));
  }

  private touch(table: string, op: Operation): void {
    if (!this.ops.has(table)) { this.order.push(table); this.cols.set(table, new Set()); this.ops.set(table, op); }
    if (op === 'write') this.ops.set(table, 'write');
  }

  private addColumn(table: string, column: string): void {
    this.touch(table, 'read');
    this.cols.get(table)!.add(column);
  }

  /** Returns the statement's operation, registering tables and columns on the way. */
  statement(node: Node, parent: Scope | undefined): Operation | undefined {
    const [kind, body] = Object.entries(node)[0] as [string, Node];
    switch (kind) {
      case 'SelectStmt': this.select(body, parent); return 'read';
      case 'InsertStmt': {
        const scope = this.withClause(body.withClause, parent);
        const table = this.target(body.relation, scope, 'write');
        const names: string[] = (body.cols ?? []).map((c: Node) => c.ResTarget.name as string);
        for (const name of names) this.addColumn(table, name);
        if (names.length === 0 && this.catalog?.get(bare(table))) for (const c of this.catalog.get(bare(table))!) this.addColumn(table, c);
        const sel = body.selectStmt?.SelectStmt;
        if (sel?.valuesLists) {
          for (const row of sel.valuesLists) {
            (row.List.items as Node[]).forEach((v, idx) => {
              const col = names[idx] ?? [...(this.catalog?.get(bare(table)) ?? [])][idx];
              if (col) this.bindValue(v, { table, column: col });
              this.expr(v, scope);
            });
          }
        } else if (sel) this.select(sel, scope);
        if (body.onConflictClause) this.generic(body.onConflictClause, this.single(scope, table));
        this.list(body.returningList, this.single(scope, table));
        return 'write';
      }
      case 'UpdateStmt': {
        const scope = this.withClause(body.withClause, parent);
        const table = this.target(body.relation, scope, 'write');
        this.from(body.fromClause, scope);
        for (const t of body.targetList ?? []) {
          const rt = t.ResTarget;
          this.addColumn(table, rt.name);
          this.bindValue(rt.val, { table, column: rt.name });
          this.expr(rt.val, scope);
        }
        this.expr(body.whereClause, scope);
        this.list(body.returningList, scope);
        return 'write';
      }
      case 'DeleteStmt': {
        const scope = this.withClause(body.withClause, parent);
        this.target(body.relation, scope, 'write');
        this.from(body.usingClause, scope);
        this.expr(body.whereClause, scope);
        this.list(body.returningList, scope);
        return 'write';
      }
      case 'MergeStmt': {
        const scope = this.withClause(body.withClause, parent);
        this.target(body.relation, scope, 'write');
        this.from([body.sourceRelation], scope);
        this.expr(body.joinCondition, scope);
        this.generic(body.mergeWhenClauses, scope);
        return 'write';
      }
      case 'CopyStmt': {
        if (body.query) { this.statement(body.query, parent); return 'read'; }
        const op: Operation = body.is_from ? 'write' : 'read';
        const table = this.target(body.relation, new Scope(parent), op);
        for (const c of body.attlist ?? []) this.addColumn(table, c.String.sval);
        if (!body.attlist?.length) this.touch(table, op);
        return op;
      }
      case 'TruncateStmt':
        for (const r of body.relations ?? []) this.touch(relName(r.RangeVar), 'write');
        return 'write';
      default:
        return undefined;
    }
  }

  private withClause(w: Node | undefined, parent: Scope | undefined): Scope {
    const scope = new Scope(parent);
    for (const c of w?.WithClause?.ctes ?? w?.ctes ?? []) {
      const cte = c.CommonTableExpr;
      // A recursive CTE may refer to itself, so its name is known while walking its body.
      if (w?.recursive ?? w?.WithClause?.recursive) scope.ctes.add(cte.ctename);
      this.statement(cte.ctequery, scope);
      scope.ctes.add(cte.ctename);
    }
    return scope;
  }

  /** `existence`: the select list of an EXISTS sub-select, whose `*` reads no column. */
  private select(s: Node, parent: Scope | undefined, existence = false): void {
    if (s.op && s.op !== 'SETOP_NONE') {
      const scope = this.withClause(s.withClause, parent);
      this.select(s.larg, scope);
      this.select(s.rarg, scope);
      this.list(s.sortClause, scope);
      return;
    }
    const scope = this.withClause(s.withClause, parent);
    if (s.valuesLists) { for (const row of s.valuesLists) this.expr(row, scope); return; }
    this.from(s.fromClause, scope);
    for (const t of s.targetList ?? []) if (t.ResTarget?.name) scope.outputAliases.add(t.ResTarget.name);
    this.list(existence ? (s.targetList ?? []).filter((t: Node) => !isStar(t.ResTarget?.val)) : s.targetList, scope);
    this.expr(s.whereClause, scope);
    this.list(s.groupClause, scope, true);
    this.expr(s.havingClause, scope);
    this.list(s.sortClause, scope, true);
    this.list(s.windowClause, scope);
    this.list(s.distinctClause, scope);
    this.expr(s.limitCount, scope);
    this.expr(s.limitOffset, scope);
  }

  private from(items: Node[] | undefined, scope: Scope): void {
    const quals: Node[] = [];
    const visit = (item: Node): void => {
      if (item.RangeVar) {
        const rv = item.RangeVar;
        const name = relName(rv);
        if (!rv.schemaname && scope.isCte(rv.relname)) scope.sources.set(rv.alias?.aliasname ?? rv.relname, null);
        else { this.touch(name, 'read'); scope.sources.set(rv.alias?.aliasname ?? rv.relname, name); }
      } else if (item.JoinExpr) {
        visit(item.JoinExpr.larg);
        visit(item.JoinExpr.rarg);
        if (item.JoinExpr.quals) quals.push(item.JoinExpr.quals);
        for (const u of item.JoinExpr.usingClause ?? []) quals.push({ ColumnRef: { fields: [u] } });
      } else if (item.RangeSubselect) {
        // A sub-select's own FROM items are searched first, so seeing the outer ones (LATERAL) is harmless.
        this.statement(item.RangeSubselect.subquery, scope);
        if (item.RangeSubselect.alias) scope.sources.set(item.RangeSubselect.alias.aliasname, null);
      } else if (item.RangeFunction) {
        this.generic(item.RangeFunction.functions, scope);
        if (item.RangeFunction.alias) scope.sources.set(item.RangeFunction.alias.aliasname, null);
      } else {
        this.generic(item, scope);
      }
    };
    for (const item of items ?? []) visit(item);
    for (const q of quals) this.expr(q, scope);
  }

  private target(rv: Node, scope: Scope, op: Operation): string {
    const name = relName(rv);
    this.touch(name, op);
    scope.sources.set(rv.alias?.aliasname ?? rv.relname, name);
    return name;
  }

  private single(parent: Scope, table: string): Scope {
    const s = new Scope(parent);
    s.sources.set(table.split('.').pop()!, table);
    return s;
  }

  private list(items: Node[] | undefined, scope: Scope, outputNamesAllowed = false): void {
    for (const item of items ?? []) {
      const ref = item.SortBy?.node?.ColumnRef ?? item.ColumnRef;
      if (outputNamesAllowed && ref && ref.fields.length === 1 && ref.fields[0].String && scope.outputAliases.has(ref.fields[0].String.sval)) continue;
      this.expr(item, scope);
    }
  }

  private expr(node: unknown, scope: Scope): void {
    if (node === undefined || node === null) return;
    this.generic(node, scope);
  }

  /** Walks any subtree: column references resolve in `scope`, sub-selects get a child scope. */
  private generic(node: unknown, scope: Scope): void {
    if (Array.isArray(node)) { for (const n of node) this.generic(n, scope); return; }
    if (typeof node !== 'object' || node === null) return;
    const obj = node as Node;
    if (obj.ColumnRef) { this.columnRef(obj.ColumnRef, scope); return; }
    if (obj.SelectStmt || obj.InsertStmt || obj.UpdateStmt || obj.DeleteStmt) { this.statement(obj, scope); return; }
    if (obj.SubLink?.subLinkType === 'EXISTS_SUBLINK' && obj.SubLink.subselect?.SelectStmt) {
      this.select(obj.SubLink.subselect.SelectStmt, scope, true);
      return;
    }
    if (obj.A_Expr) this.bindComparison(obj.A_Expr, scope);
    for (const v of Object.values(obj)) if (typeof v === 'object' && v !== null) this.generic(v, scope);
  }

  private columnRef(ref: Node, scope: Scope): void {
    const fields = ref.fields as Node[];
    const last = fields[fields.length - 1];
    const column = last.A_Star ? '*' : (last.String?.sval as string);
    if (fields.length >= 2) {
      const qual = fields[fields.length - 2].String?.sval as string;
      for (let s: Scope | undefined = scope; s; s = s.parent) {
        if (s.sources.has(qual)) { const t = s.sources.get(qual); if (t) this.addColumn(t, column); return; }
      }
      this.unresolved.add(`${qual}.${column}`);
      return;
    }
    if (column === '*') { for (const t of scope.realTables()) this.addColumn(t, '*'); return; }
    const table = this.resolve(column, scope);
    if (table) this.addColumn(table, column);
    else if (table === undefined) this.unresolved.add(column);
  }

  /** The table of an unqualified column: undefined when ambiguous, null when it is no table's column. */
  private resolve(column: string, scope: Scope): string | null | undefined {
    for (let s: Scope | undefined = scope; s; s = s.parent) {
      const real = s.realTables();
      const derived = [...s.sources.values()].includes(null);
      // A table missing from the catalog might hold any column.
      const hits = real.filter((t) => this.catalog?.get(bare(t))?.has(column) ?? true);
      if (hits.length === 1) return this.catalog?.has(bare(hits[0])) || !derived ? hits[0] : undefined;
      if (hits.length > 1) return undefined;
      if (derived) return real.every((t) => this.catalog?.has(bare(t))) ? null : undefined;
      // No table here has it: a correlated reference to an outer query, or an output name.
    }
    return this.catalog ? null : undefined;
  }

  private columnOf(node: Node | undefined, scope: Scope): ParamBinding | undefined {
    const ref = node?.ColumnRef ?? node?.TypeCast?.arg?.ColumnRef;
    if (!ref) return undefined;
    const fields = ref.fields as Node[];
    const column = fields[fields.length - 1].String?.sval as string | undefined;
    if (!column) return undefined;
    let table: string | null | undefined;
    if (fields.length >= 2) {
      const qual = fields[fields.length - 2].String?.sval as string;
      for (let s: Scope | undefined = scope; s && table === undefined; s = s.parent) if (s.sources.has(qual)) table = s.sources.get(qual);
    } else table = this.resolve(column, scope);
    return table ? { table, column } : undefined;
  }

  private bindComparison(e: Node, scope: Scope): void {
    const l = this.columnOf(e.lexpr, scope);
    const r = this.columnOf(e.rexpr, scope);
    if (l) this.bindValue(e.rexpr, l);
    if (r) this.bindValue(e.lexpr, r);
  }

  /** Records that the literal or parameter `v` (or each in a list) stands for values of `col`. */
  private bindValue(v: Node | undefined, col: ParamBinding): void {
    if (!v) return;
    if (Array.isArray(v)) { for (const x of v) this.bindValue(x, col); return; }
    if (v.List) { this.bindValue(v.List.items, col); return; }
    if (v.TypeCast) { this.bindValue(v.TypeCast.arg, col); return; }
    if (v.ParamRef) { this.params.set(v.ParamRef.number, col); return; }
    if (v.A_Const) {
      const p = this.literalParam.get(v.A_Const.location);
      if (p !== undefined) this.params.set(p, col);
    }
  }
}

function isStar(v: Node | undefined): boolean {
  const f = v?.ColumnRef?.fields as Node[] | undefined;
  return f !== undefined && f.length === 1 && f[0].A_Star !== undefined;
}

function relName(rv: Node): string {
  return rv.schemaname ? `${rv.schemaname}.${rv.relname}` : rv.relname;
}

function bare(table: string): string {
  return table.split('.').pop()!;
}
