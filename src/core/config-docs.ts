/** Renders docs/config.md from the config schema, so the reference cannot drift from the code. */
import type { TSchema } from '@sinclair/typebox';

interface Row {
  key: string;
  type: string;
  default: string;
  description: string;
}

function typeOf(s: Record<string, unknown>): string {
  if (Array.isArray(s.anyOf)) {
    const consts = (s.anyOf as Record<string, unknown>[]).map((o) => o.const).filter((c) => c !== undefined);
    if (consts.length > 0) return consts.map((c) => `\`${String(c)}\``).join(' \\| ');
    return (s.anyOf as Record<string, unknown>[]).map(typeOf).join(' \\| ');
  }
  if (s.type === 'string' && s.pattern === '^[0-9]+(ms|s|m|h|d)$') return 'duration';
  if (s.type === 'array') return `list of ${typeOf(s.items as Record<string, unknown>)}`;
  if (s.type === 'object' && s.patternProperties) return 'map';
  return String(s.type ?? 'any');
}

function walk(schema: Record<string, unknown>, prefix: string, rows: Row[], required: boolean): void {
  const props = schema.properties as Record<string, Record<string, unknown>> | undefined;
  if (schema.type === 'object' && props) {
    for (const [name, child] of Object.entries(props)) {
      const key = prefix ? `${prefix}.${name}` : name;
      const isRequired = ((schema.required as string[] | undefined) ?? []).includes(name);
      if (child.type === 'object' && child.properties) {
        if (child.description) rows.push({ key, type: 'object', default: '', description: String(child.description) });
        walk(child, key, rows, isRequired);
      } else if (child.type === 'array' && (child.items as Record<string, unknown>).type === 'object') {
        rows.push({ key, type: 'list', default: JSON.stringify(child.default ?? []), description: String(child.description ?? '') });
        walk(child.items as Record<string, unknown>, `${key}[]`, rows, true);
      } else {
        const def = child.default === undefined ? (isRequired && required ? '*required*' : '*unset*') : `\`${JSON.stringify(child.default)}\``;
        rows.push({ key, type: typeOf(child), default: def, description: String(child.description ?? '') });
      }
    }
  }
}

/** The flags of one component's command (`stream serve`, `volume serve`), for the reference. */
export interface FlagsSection {
  /** The command as typed after `shadowplane`. */
  readonly command: string;
  readonly flags: readonly { readonly flags: string; readonly default: string; readonly description: string }[];
}

/** The Markdown reference of every configuration key, then the flags of the shadow components' commands. */
export function configReference(schema: TSchema, components: readonly FlagsSection[] = []): string {
  const rows: Row[] = [];
  walk(schema as unknown as Record<string, unknown>, '', rows, true);
  const lines = [
    '# Configuration reference',
    '',
    'Generated from `src/config.ts` by `npm run docs:config`; do not edit by hand.',
    '',
    'Shadowplane reads one YAML file: `--config FILE`, else `./shadowplane.yaml` when present, else the',
    'embedded defaults below. Unknown keys are rejected. `shadowplane config check FILE` validates a file.',
    'Secrets may come from the environment instead: `SHADOWPLANE_API_TOKEN` (server.token),',
    '`SHADOWPLANE_PSEUDONYM_KEY` (ingest.pseudonymKey), `SHADOWPLANE_PG_URL` (store.postgres.url).',
    'Durations are written like `500ms`, `30s`, `5m`, `1h`, `7d`.',
    '',
    '| key | type | default | description |',
    '|---|---|---|---|',
    ...rows.map((r) => `| \`${r.key}\` | ${r.type} | ${r.default} | ${r.description.replaceAll('|', '\\|')} |`),
    '',
  ];
  if (components.length > 0) {
    lines.push('## Shadow component flags', '', 'The shadow components run as their own processes and are set by flags, thresholds included.', '');
    for (const c of components) {
      lines.push(`### \`shadowplane ${c.command}\``, '', '| flag | default | description |', '|---|---|---|');
      lines.push(...c.flags.map((f) => `| \`${f.flags}\` | ${f.default} | ${f.description.replaceAll('|', '\\|')} |`), '');
    }
  }
  return lines.join('\n');
}
