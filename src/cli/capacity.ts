/**
 * `shadowplane capacity run|runs|show`: capacity runs of a target through a running service's API
 * (--url, --token or SHADOWPLANE_API_TOKEN). `run` starts one and follows it, one progress line
 * on stderr per phase and ramp step, then prints the finished run as JSON on stdout (exit 1 when
 * it failed); `runs` lists a target's runs, `show` prints one.
 */
import type { Command } from 'commander';
import type { CapacityRun } from '../model/capacity.js';
import { api, positiveInt, type Conn } from './common.js';

/** How often a followed run is read again, ms. */
const POLL_MS = 500;

function connection(cmd: Command): Command {
  return cmd.option('--url <url>', 'API address', 'http://127.0.0.1:7070').option('--token <token>', 'bearer token (default: SHADOWPLANE_API_TOKEN)');
}

const path = (target: string, id = '') => `/v1/targets/${encodeURIComponent(target)}/capacity-runs${id ? `/${encodeURIComponent(id)}` : ''}`;

/** Adds the `capacity` command. */
export function register(program: Command): void {
  const capacity = program.command('capacity').description('Capacity runs: measure a target\'s capacity per unit on its shadow PostgreSQL (docs/capacity.md).');

  connection(capacity.command('run').description('Start a capacity run and follow it (progress on stderr, the run as JSON on stdout).'))
    .requiredOption('--target <name>', 'the target (it needs `capacity` settings in the service\'s config)')
    .option('--why <text>', 'why (recorded in the audit trail)')
    .action(async (o: Conn & { target: string; why?: string }) => {
      let run = (await api(o, 'POST', path(o.target), o.why ? { why: o.why } : {})) as CapacityRun;
      process.stderr.write(`capacity run ${run.id} of ${o.target} started\n`);
      let shown = 0;
      for (;;) {
        for (const line of run.progress.slice(shown)) process.stderr.write(`  ${line}\n`);
        shown = run.progress.length;
        if (run.status !== 'running') break;
        await new Promise((r) => setTimeout(r, POLL_MS));
        run = (await api(o, 'GET', path(o.target, run.id))) as CapacityRun;
      }
      process.stdout.write(`${JSON.stringify(run, null, 2)}\n`);
      if (run.status === 'failed') {
        process.stderr.write(`error: capacity run ${run.id} failed: ${run.error}\n`);
        process.exitCode = 1;
      }
    });

  connection(capacity.command('runs').description('A target\'s capacity runs, newest first, and the capacity its loop uses now (JSON).'))
    .requiredOption('--target <name>', 'the target')
    .option('--limit <n>', 'how many', positiveInt, 20)
    .action(async (o: Conn & { target: string; limit: number }) => {
      process.stdout.write(`${JSON.stringify(await api(o, 'GET', `${path(o.target)}?limit=${o.limit}`), null, 2)}\n`);
    });

  connection(capacity.command('show <id>').description('One capacity run (JSON).'))
    .requiredOption('--target <name>', 'the target')
    .action(async (id: string, o: Conn & { target: string }) => {
      process.stdout.write(`${JSON.stringify(await api(o, 'GET', path(o.target, id)), null, 2)}\n`);
    });
}
