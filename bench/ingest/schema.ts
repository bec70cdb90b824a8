/**
 * What the text rule (no NUL, no unpaired surrogate: format `text`) costs in the event schema
 * check: the compiled check of EventSchema as shipped, beside the same schema with the format
 * stripped, in one process, alternately, on the same 1,000 events (items checked per CPU-second).
 *
 *   npm run build && node dist/bench/ingest/schema.js [rounds=5]
 */
import { CloneType, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { EventSchema } from '../../src/ingest/schemas.js';
import { median } from '../util.js';

const ROUNDS = Number(process.argv[2] ?? 5);

function withoutFormats(schema: TSchema): TSchema {
  const copy = CloneType(schema);
  const strip = (node: unknown): void => {
    if (node === null || typeof node !== 'object') return;
    delete (node as { format?: string }).format;
    for (const child of Object.values(node)) strip(child);
  };
  strip(copy);
  return copy;
}

const shipped = TypeCompiler.Compile(EventSchema);
const stripped = TypeCompiler.Compile(withoutFormats(EventSchema));
const items = Array.from({ length: 1000 }, (_, k) => ({ target: 'bench-db', op: 'read', table: `table_${k % 50}`, columns: ['id', `col_${k % 20}`], route: `GET /api/v1/resource_${k % 200}/:id`, user: `user-${k % 5000}`, bytes: 100 + (k % 900), latencyMs: 1.5, requestId: `req-${k}`, at: 1_767_225_600_000 }));

function rate(check: { Check(value: unknown): boolean }): number {
  const t0 = process.cpuUsage();
  let ok = 0;
  for (let r = 0; r < 1000; r++) for (const item of items) if (check.Check(item)) ok++;
  const used = process.cpuUsage(t0);
  return ok / ((used.user + used.system) / 1e6);
}

const withText: number[] = [];
const without: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  withText.push(rate(shipped));
  without.push(rate(stripped));
}
const a = median(withText);
const b = median(without);
console.log(`event schema check, items per CPU-second (medians of ${ROUNDS}): with the text rule ${Math.round(a).toLocaleString('en')}, without ${Math.round(b).toLocaleString('en')}`);
console.log(`cost of the text rule: ${((1e6 / a - 1e6 / b) * 1000).toFixed(0)} ns per event`);
