/**
 * `shadowplane tier-replay`: replays a block trace against a fast tier of N blocks and prints the
 * hit ratio, promotions (copy traffic, by reason) and cost for each policy and size. With
 * `--unit io` (the default) one trace line is one I/O, a hit only when all its blocks are on the
 * fast tier; with `--unit block` every block is its own request, as in the literature.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { positiveIntList } from './common.js';
import { POLICY_NAMES, policyFactory, type PolicyName } from '../shadows/volumes/policies/index.js';
import { DEFAULT_PROFILES, type TierProfile } from '../shadows/volumes/profile.js';
import { replay, type ReplayResult, type ReplayUnit } from '../shadows/volumes/replay.js';
import { blockRequests, readBlockTrace, TRACE_FORMATS, type TraceFormat } from '../shadows/volumes/trace.js';

function oneOf<T extends string>(allowed: readonly T[], what: string): (v: string) => T {
  return (v) => {
    if (!(allowed as readonly string[]).includes(v)) throw new InvalidArgumentError(`${what} must be one of ${allowed.join(', ')}`);
    return v as T;
  };
}

function policyList(v: string): PolicyName[] {
  return v.split(',').map((p) => oneOf(POLICY_NAMES, 'each policy')(p.trim()));
}

const UNITS: readonly ReplayUnit[] = ['io', 'block'];

function positiveNumber(v: string): number {
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n)) throw new InvalidArgumentError('must be a positive number');
  return n;
}

const TIER_NAMES = Object.keys(DEFAULT_PROFILES) as (keyof typeof DEFAULT_PROFILES)[];

/** Formats results as an aligned text table. */
export function formatReplayTable(results: readonly ReplayResult[]): string {
  const head = ['policy', 'unit', 'fast-blocks', 'requests', 'hit %', 'promotions', 'readahead', 'forecast', 'copy MiB', 'read s', 'copy s', '$/month'];
  const rows = results.map((r) => [
    r.policy,
    r.unit,
    String(r.fastBlocks),
    String(r.requests),
    (r.hitRatio * 100).toFixed(2),
    String(r.promotions),
    String(r.promotionsBy.readahead),
    String(r.promotionsBy.forecast),
    (r.copyBytes / 2 ** 20).toFixed(1),
    r.readSeconds.toFixed(1),
    r.copySeconds.toFixed(1),
    r.fastCostPerMonth.toFixed(6),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  return [head, ...rows].map((row) => row.map((c, i) => c.padStart(widths[i])).join('  ')).join('\n');
}

/** Registers the subcommand. */
export function register(program: Command): void {
  program
    .command('tier-replay')
    .description('Replay a block trace against a fast tier of N blocks: hit ratio, promotions (copy traffic) and cost')
    .requiredOption('--trace <file>', 'trace file (.zst is streamed through zstd)')
    .requiredOption('--format <format>', `trace format: ${TRACE_FORMATS.join('|')}`, oneOf(TRACE_FORMATS, 'format'))
    .requiredOption('--fast-blocks <n[,n...]>', 'fast-tier size(s) in blocks', positiveIntList)
    .option('--policy <name[,name...]>', `policy or policies: ${POLICY_NAMES.join('|')}`, policyList, ['shadowplane'] as PolicyName[])
    .option('--unit <unit>', 'io: one trace line is one I/O (hit only when all its blocks are fast); block: every block is a request', oneOf(UNITS, 'unit'), 'io')
    .option('--forecast-bucket <n>', 'heat bucket of the forecast, in the trace clock (seconds; I/Os for a trace without a clock)', positiveNumber)
    .option('--block-bytes <n>', 'bytes per block, for copy traffic and cost', (v) => positiveIntList(v)[0], 512)
    .option('--fast-tier <name>', `profile of the fast tier: ${TIER_NAMES.join('|')}`, oneOf(TIER_NAMES, 'fast-tier'), 'nvme')
    .option('--slow-tier <name>', `profile of the slow tier: ${TIER_NAMES.join('|')}`, oneOf(TIER_NAMES, 'slow-tier'), 'hdd')
    .option('--copy-lag <n>', 'requests (in the chosen unit) that pass while a copy is in flight (0: complete before the next request)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('must be an integer >= 0');
      return n;
    }, 0)
    .option('--json', 'print one JSON object per result instead of a table')
    .action(
      async (opts: {
        trace: string;
        format: TraceFormat;
        fastBlocks: number[];
        policy: PolicyName[];
        blockBytes: number;
        copyLag: number;
        unit: ReplayUnit;
        forecastBucket?: number;
        fastTier: keyof typeof DEFAULT_PROFILES;
        slowTier: keyof typeof DEFAULT_PROFILES;
        json?: boolean;
      }) => {
        const ios = await readBlockTrace(opts.trace, opts.format);
        const trace = opts.unit === 'io' ? ios : blockRequests(ios, opts.format);
        // Daily and weekly seasons only mean something on a real clock.
        const forecast = { ...(opts.forecastBucket !== undefined ? { bucket: opts.forecastBucket } : {}), ...(trace.timed ? {} : { seasons: [] }) };
        const fast: TierProfile = DEFAULT_PROFILES[opts.fastTier];
        const slow: TierProfile = DEFAULT_PROFILES[opts.slowTier];
        const results: ReplayResult[] = [];
        for (const policy of opts.policy) {
          for (const fastBlocks of opts.fastBlocks) {
            const r = replay(trace, policyFactory(policy, { forecast }), {
              fastBlocks,
              blockBytes: opts.blockBytes,
              fast,
              slow,
              copyLag: opts.copyLag,
              unit: opts.unit,
            });
            results.push(r);
            if (opts.json) process.stdout.write(JSON.stringify(r) + '\n');
          }
        }
        if (!opts.json) process.stdout.write(formatReplayTable(results) + '\n');
      },
    );
}
