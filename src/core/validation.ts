/**
 * One way to check a value against a TypeBox schema and say, per field, which rule it broke.
 * Config files, API bodies and ingested items all go through here, so every bad input reads alike:
 * `/store/topK: must be an integer >= 1`.
 */
import type { TSchema, Static } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { Value, ValueErrorType, type ValueError } from '@sinclair/typebox/value';
import type { FieldProblem } from './errors.js';
import { isStorableText, TEXT_FORMAT, TEXT_RULE } from './schema.js';

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

function checker<T extends TSchema>(schema: T): TypeCheck<T> {
  let check = compiled.get(schema);
  if (!check) {
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check);
  }
  return check as TypeCheck<T>;
}

/** True when `value` matches `schema` (compiled once, fast enough for every ingested event). */
export function matches<T extends TSchema>(schema: T, value: unknown): value is Static<T> {
  return checker(schema).Check(value);
}

/** Every problem of `value` against `schema`, at most one per path, phrased as a rule. */
export function problemsOf(schema: TSchema, value: unknown, prefix = ''): FieldProblem[] {
  const seen = new Set<string>();
  const problems: FieldProblem[] = [];
  for (const error of checker(schema).Errors(value)) {
    const path = prefix + (error.path || '/');
    if (seen.has(path)) continue;
    seen.add(path);
    problems.push({ path, message: ruleOf(error) });
  }
  return problems;
}

/**
 * Every string in `value` (nested in arrays and objects, keys too) that the store could not hold
 * (see isStorableText), as problems at their JSON-pointer path under `prefix`.
 */
export function textProblems(value: unknown, prefix: string): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const walk = (v: unknown, path: string): void => {
    if (typeof v === 'string') {
      if (!isStorableText(v)) problems.push({ path, message: TEXT_RULE });
    } else if (Array.isArray(v)) {
      v.forEach((item, i) => walk(item, `${path}/${i}`));
    } else if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v)) {
      for (const [key, item] of Object.entries(v)) {
        const at = `${path}/${isStorableText(key) ? key.replaceAll('~', '~0').replaceAll('/', '~1') : JSON.stringify(key).slice(1, -1)}`;
        if (!isStorableText(key)) problems.push({ path: at, message: `is a key that ${TEXT_RULE}` });
        walk(item, at);
      }
    }
  };
  walk(value, prefix);
  return problems;
}

/** Fills in schema defaults on a copy of `value`. */
export function withDefaults<T extends TSchema>(schema: T, value: unknown): unknown {
  return Value.Default(schema, Value.Clone(value ?? {}));
}

function ruleOf(error: ValueError): string {
  const s = error.schema as Record<string, unknown>;
  if (typeof s.errorMessage === 'string') return s.errorMessage;
  switch (error.type) {
    case ValueErrorType.ObjectAdditionalProperties:
      return 'is not a known key';
    case ValueErrorType.ObjectRequiredProperty:
      return 'is required';
    case ValueErrorType.Union: {
      const options = (s.anyOf as Record<string, unknown>[] | undefined)?.map((o) => o.const).filter((c) => c !== undefined);
      return options && options.length > 0 ? `must be one of: ${options.join(', ')}` : 'does not match any allowed form';
    }
    case ValueErrorType.NumberMinimum:
    case ValueErrorType.IntegerMinimum:
      return `must be >= ${String(s.minimum)}`;
    case ValueErrorType.NumberMaximum:
    case ValueErrorType.IntegerMaximum:
      return `must be <= ${String(s.maximum)}`;
    case ValueErrorType.NumberExclusiveMinimum:
    case ValueErrorType.IntegerExclusiveMinimum:
      return `must be > ${String(s.exclusiveMinimum)}`;
    case ValueErrorType.Integer:
      return 'must be an integer';
    case ValueErrorType.Number:
      return 'must be a finite number';
    case ValueErrorType.String:
      return 'must be a string';
    case ValueErrorType.Boolean:
      return 'must be true or false';
    case ValueErrorType.Object:
      return 'must be an object';
    case ValueErrorType.Array:
      return 'must be an array';
    case ValueErrorType.StringMinLength:
      return `must be at least ${String(s.minLength)} characters`;
    case ValueErrorType.StringMaxLength:
      return `must be at most ${String(s.maxLength)} characters`;
    case ValueErrorType.StringFormat:
      return s.format === TEXT_FORMAT ? TEXT_RULE : `must be a ${String(s.format)} string`;
    case ValueErrorType.StringPattern:
      return `must match ${String(s.pattern)}`;
    case ValueErrorType.ArrayMaxItems:
      return `must have at most ${String(s.maxItems)} items`;
    case ValueErrorType.ArrayMinItems:
      return `must have at least ${String(s.minItems)} items`;
    case ValueErrorType.ObjectMaxProperties:
      return `must have at most ${String(s.maxProperties)} keys`;
    default:
      return error.message.replace(/^Expected/, 'must be');
  }
}
