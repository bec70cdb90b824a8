/**
 * `shadowplane decisions` and `shadowplane target ...`: the operator's control commands, talking to
 * a running service's HTTP API (--url, default http://127.0.0.1:7070; --token or
 * SHADOWPLANE_API_TOKEN). `decisions` prints a table (`--json`: the full records); the others print
 * the API's JSON. An API error prints its problem and exits 1.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { ShadowplaneError } from '../core/errors.js';
import type { DecisionRecord } from '../model/decision.js';
import { api, positiveInt, type Conn } from './common.js';

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

const num = (v: number): string => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3).replace(/\.?0+$/, ''));

/**
 * Decision records as a table, one line each, newest first: time (UTC), mode, reason, units from →
 * to (the current units alone when nothing was done), forecast demand at the time new units would
 * be ready, failure risk, status.
 */
export function decisionsTable(records: readonly DecisionRecord[]): string {
  const rows = records.map((d) => {
    const r = d.recommendation;
    const units = d.action ? `${d.action.from} → ${d.action.to}` : r ? String(r.currentUnits) : '-';
    const forecast = r?.forecastDemandAtReady == null ? '-' : num(r.forecastDemandAtReady);
    const risk = d.scores?.risk === undefined || !d.scores.riskReady ? '-' : `${Math.round(d.scores.risk * 100)} %`;
    return [new Date(d.at).toISOString().slice(0, 16).replace('T', ' '), d.action?.mode ?? r?.mode ?? '-', d.reason, units, forecast, risk, d.status];
  });
  const header = ['TIME (UTC)', 'MODE', 'REASON', 'UNITS', 'FORECAST', 'RISK', 'STATUS'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('  ');
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** A YAML (or JSON, which is YAML) file's content; SHADOWPLANE_ERR_INPUT_FILE naming the file when it cannot be read or parsed. */
function readDocument(file: string, arg: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, [{ path: arg, message: 'must be a readable YAML or JSON file' }]);
  }
  try {
    return parseYaml(text);
  } catch (err) {
    throw new ShadowplaneError('SHADOWPLANE_ERR_INPUT_FILE', `${file} is not YAML or JSON: ${(err as Error).message}`, [{ path: arg, message: 'must be YAML or JSON' }]);
  }
}

function connection(cmd: Command): Command {
  return cmd.option('--url <url>', 'API address', 'http://127.0.0.1:7070').option('--token <token>', 'bearer token (default: SHADOWPLANE_API_TOKEN)');
}

function who(cmd: Command): Command {
  return cmd.requiredOption('--why <text>', 'why (recorded in the audit trail)').option('--actor <name>', 'who asks (default: the caller identity)');
}

type Opts = Conn & { why?: string; actor?: string; for?: string; min?: number; max?: number; exact?: number; limit?: number; status?: string };

const attribution = (o: Opts) => ({ why: o.why, ...(o.actor ? { actor: o.actor } : {}) });

/** Adds `decisions` and `target` commands. */
export function register(program: Command): void {
  connection(program.command('decisions <target>').description('Decision records of a target, newest first.'))
    .option('--limit <n>', 'how many', positiveInt, 20)
    .option('--status <status>', 'only this status (e.g. pending-approval)')
    .option('--json', 'the full records as JSON instead of a table')
    .action(async (target: string, o: Opts & { json?: boolean }) => {
      const body = (await api(o, 'GET', `/v1/targets/${encodeURIComponent(target)}/decisions?limit=${o.limit}${o.status ? `&status=${o.status}` : ''}`)) as { decisions: DecisionRecord[] };
      if (o.json) print(body);
      else process.stdout.write(body.decisions.length ? decisionsTable(body.decisions) : `no decisions yet for ${target} (a controlled target decides once a minute)\n`);
    });

  connection(program.command('decision <id>').description('One decision record.')).action(async (id: string, o: Opts) => print(await api(o, 'GET', `/v1/decisions/${id}`)));

  const target = program.command('target').description('Operate a target: overrides, review, forced actions, actuator, response rules, conditions.');
  connection(target.command('status <target>').description('Control settings, overrides, capacity and conditions.')).action(async (t: string, o: Opts) => {
    print({ ...(await api(o, 'GET', `/v1/targets/${t}/control`) as object), ...(await api(o, 'GET', `/v1/targets/${t}/conditions`) as object) });
  });
  const overrides: [string, string, string][] = [
    ['pause', 'pause', 'Stop acting on the target (decisions are still recorded).'],
    ['dry-run', 'dry-run', 'Forecast-only mode: decide and record, never act.'],
    ['review', 'review', 'Decisions wait for approve / reject.'],
  ];
  for (const [name, kind, text] of overrides) {
    who(connection(target.command(`${name} <target>`).description(text)))
      .option('--for <duration>', 'how long, e.g. 2h (default: until cleared)')
      .action(async (t: string, o: Opts) => print(await api(o, 'PUT', `/v1/targets/${t}/overrides/${kind}`, { ...attribution(o), ...(o.for ? { for: o.for } : {}) })));
  }
  const clears: [string, string][] = [['resume', 'pause'], ['no-dry-run', 'dry-run'], ['no-review', 'review'], ['unpin', 'pin']];
  for (const [name, kind] of clears) {
    who(connection(target.command(`${name} <target>`).description(`Clear the ${kind} override.`))).action(async (t: string, o: Opts) => print(await api(o, 'DELETE', `/v1/targets/${t}/overrides/${kind}`, attribution(o))));
  }
  who(connection(target.command('pin <target>').description('Pin the units: --min, --max and/or --exact, optionally --for a period.')))
    .option('--min <n>', 'fewest units', (v) => (v === '0' ? 0 : positiveInt(v)))
    .option('--max <n>', 'most units', positiveInt)
    .option('--exact <n>', 'exactly this many', (v) => (v === '0' ? 0 : positiveInt(v)))
    .option('--for <duration>', 'how long, e.g. 2h')
    .action(async (t: string, o: Opts) => {
      const bounds = Object.fromEntries((['min', 'max', 'exact'] as const).filter((k) => o[k] !== undefined).map((k) => [k, o[k]]));
      print(await api(o, 'PUT', `/v1/targets/${t}/overrides/pin`, { ...attribution(o), ...bounds, ...(o.for ? { for: o.for } : {}) }));
    });
  who(connection(target.command('force <target> <units>').description('Scale to <units> now, past pause, dry-run and review.'))).action(async (t: string, units: string, o: Opts) =>
    print(await api(o, 'POST', `/v1/targets/${t}/force`, { units: units === '0' ? 0 : positiveInt(units), ...attribution(o) })),
  );
  who(connection(target.command('set-actuator <target> <file>').description('Give the target an actuator (or replace its own) from a YAML or JSON file of the config\'s `actuator` shape (docs/actuators.md); it acts through it from the next tick.')))
    .action(async (t: string, file: string, o: Opts) => print(await api(o, 'PUT', `/v1/targets/${t}/actuator`, { actuator: readDocument(file, '<file>'), ...attribution(o) })));
  who(connection(target.command('remove-actuator <target>').description('Take the target\'s actuator away: it is observed only from the next tick (forecast, anomalies, risk, no action).')))
    .action(async (t: string, o: Opts) => print(await api(o, 'DELETE', `/v1/targets/${t}/actuator`, attribution(o))));
  who(connection(target.command('set-rules <target> <file>').description('Replace the target\'s response rules with the list in a YAML or JSON file (docs/control.md, response rules).')))
    .action(async (t: string, file: string, o: Opts) => print(await api(o, 'PUT', `/v1/targets/${t}/respond`, { rules: readDocument(file, '<file>'), ...attribution(o) })));
  for (const verdict of ['approve', 'reject']) {
    who(connection(target.command(`${verdict} <decision>`).description(`${verdict === 'approve' ? 'Approve' : 'Reject'} a decision waiting in review mode.`))).action(async (id: string, o: Opts) =>
      print(await api(o, 'POST', `/v1/decisions/${id}/${verdict}`, attribution(o))),
    );
  }
}
