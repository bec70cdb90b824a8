/**
 * `shadowplane decisions` and `shadowplane target ...`: the operator's control commands, talking to
 * a running service's HTTP API (--url, default http://127.0.0.1:7070; --token or
 * SHADOWPLANE_API_TOKEN). Output is the API's JSON; an API error prints its problem and exits 1.
 */
import type { Command } from 'commander';
import { api, positiveInt, type Conn } from './common.js';

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
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
    .action(async (target: string, o: Opts) => print(await api(o, 'GET', `/v1/targets/${target}/decisions?limit=${o.limit}${o.status ? `&status=${o.status}` : ''}`)));

  connection(program.command('decision <id>').description('One decision record.')).action(async (id: string, o: Opts) => print(await api(o, 'GET', `/v1/decisions/${id}`)));

  const target = program.command('target').description('Operate a controlled target: overrides, review, forced actions, conditions.');
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
  for (const verdict of ['approve', 'reject']) {
    who(connection(target.command(`${verdict} <decision>`).description(`${verdict === 'approve' ? 'Approve' : 'Reject'} a decision waiting in review mode.`))).action(async (id: string, o: Opts) =>
      print(await api(o, 'POST', `/v1/decisions/${id}/${verdict}`, attribution(o))),
    );
  }
}
