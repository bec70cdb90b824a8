/** `shadowplane stream serve`: runs the partitioned stream service with its HTTP API and control loop. */
import { Option, type Command } from 'commander';
import { PartitionController } from '../shadows/partitions/controller.js';
import { startAdmin } from '../shadows/partitions/admin.js';
import { JetStreamLog } from '../shadows/partitions/jetstream-log.js';
import type { ReplicaLog } from '../shadows/partitions/log.js';
import { SegmentLog, type FsyncPolicy } from '../shadows/partitions/segment-log.js';
import { logger } from '../obs/log.js';
import { StreamService, timelineReport } from '../shadows/partitions/service.js';
import { TimelineReporter } from '../shadows/timeline.js';
import { boundUrl } from '../api/app.js';
import { durationFlag, hostPort, oneOf, positiveInt, reportCliError, serviceToken, unitFraction } from './common.js';
import { runUntilSignal } from './shutdown.js';
import { ShadowplaneError } from '../core/errors.js';
import { DEFAULT_SHADOW_POLICY, shadowPolicyProblems, type ShadowPolicyConfig } from '../shadows/partitions/policy.js';

/** The flag that sets each field of the partition policy, for error messages. */
const POLICY_FLAGS: Partial<Record<keyof ShadowPolicyConfig, string>> = {
  shadowAt: '--shadow-at', switchAt: '--switch-at', releaseBelow: '--release-below', reactiveAt: '--reactive-at', reactiveWindowMs: '--reactive-window', minDwellMs: '--dwell', cooldownMs: '--cooldown',
};

/** Registers the subcommand. */
export function register(program: Command): void {
  const stream = program.command('stream').description('The partitioned stream service with shadow partitions');
  stream
    .command('serve')
    .description('Serve POST /v1/records (JSON or NDJSON) and the partition operator API')
    .option('--listen <host:port>', 'HTTP address (beyond loopback only with SHADOWPLANE_STREAM_TOKEN, which every POST then needs as a bearer token)', hostPort, { host: '127.0.0.1', port: 7080 })
    .option('--backend <name>', 'segment | jetstream', oneOf(['segment', 'jetstream'] as const), 'segment')
    .option('--dir <path>', 'segment-file directory', './stream-data')
    .option('--fsync <policy>', 'always | interval | never (segment backend)', oneOf(['always', 'interval', 'never'] as const), 'always')
    .option('--nats <url>', 'NATS URL (jetstream backend)', 'nats://127.0.0.1:4222')
    .option('--prefix <name>', 'JetStream stream-name prefix', 'SHADOWPLANE')
    .option('--partitions <n>', 'partitions', positiveInt, 8)
    .option('--workers <n>', 'worker processes', positiveInt, 4)
    .option('--capacity <n>', 'records/s per worker', positiveInt, 1000)
    .option('--window-ms <n>', 'telemetry and control window', positiveInt, 10_000)
    .option('--policy <name>', 'shadow | reactive | off', oneOf(['shadow', 'reactive', 'off'] as const), 'shadow')
    .option('--shadow-at <ratio>', 'a worker predicted above this utilisation gets a shadow of its hottest partition', unitFraction, DEFAULT_SHADOW_POLICY.shadowAt)
    .option('--switch-at <ratio>', 'a worker measured or predicted above this utilisation switches routing to a caught-up shadow', unitFraction, DEFAULT_SHADOW_POLICY.switchAt)
    .option('--release-below <ratio>', 'a standby is released once its partition\'s worker stays below this utilisation', unitFraction, DEFAULT_SHADOW_POLICY.releaseBelow)
    .option('--reactive-at <ratio>', 'reactive policy: copy and switch once the mean utilisation over --reactive-window exceeds this', unitFraction, DEFAULT_SHADOW_POLICY.reactiveAt)
    .addOption(new Option('--reactive-window <duration>', 'reactive policy: window of that mean').argParser(durationFlag).default(DEFAULT_SHADOW_POLICY.reactiveWindowMs, '5m'))
    .addOption(new Option('--dwell <duration>', 'a former primary is kept as standby at least this long').argParser(durationFlag).default(DEFAULT_SHADOW_POLICY.minDwellMs, '5m'))
    .addOption(new Option('--cooldown <duration>', 'a shadow never switched to is kept this long, and a partition released within it gets no new shadow unless its worker is predicted above --switch-at').argParser(durationFlag).default(DEFAULT_SHADOW_POLICY.cooldownMs, '30m'))
    .option('--control-url <url>', 'Shadowplane service base URL: partition samples go to its Shadow Store and the service\'s own actions to the target\'s timeline')
    .option('--target <name>', 'the target this stream serves (samples and timeline)', 'stream')
    .option('--name <name>', 'this component\'s name on the timeline', 'stream')
    .action(async (o: {
      listen: { host: string; port: number }; backend: 'segment' | 'jetstream'; dir: string; fsync: FsyncPolicy; nats: string; prefix: string;
      partitions: number; workers: number; capacity: number; windowMs: number; policy: 'shadow' | 'reactive' | 'off'; controlUrl?: string; target: string; name: string;
      shadowAt: number; switchAt: number; releaseBelow: number; reactiveAt: number; reactiveWindow: number; dwell: number; cooldown: number;
    }) => {
      const config = {
        ...DEFAULT_SHADOW_POLICY, shadowAt: o.shadowAt, switchAt: o.switchAt, releaseBelow: o.releaseBelow, reactiveAt: o.reactiveAt,
        reactiveWindowMs: o.reactiveWindow, minDwellMs: o.dwell, cooldownMs: o.cooldown,
      };
      const problems = shadowPolicyProblems(config);
      if (problems.length > 0) {
        reportCliError(new ShadowplaneError('SHADOWPLANE_ERR_CONFIG_INVALID', 'the partition policy flags are not valid', problems.map((p) => ({ path: POLICY_FLAGS[p.field] ?? p.field, message: p.message }))));
        process.exitCode = 1;
        return;
      }
      const log: ReplicaLog = o.backend === 'jetstream' ? await JetStreamLog.open({ url: o.nats, prefix: o.prefix }) : new SegmentLog({ dir: o.dir, fsync: o.fsync });
      const svc = await StreamService.start({ log, partitions: o.partitions, workers: o.workers, capacity: o.capacity, windowMs: o.windowMs });
      if (o.policy !== 'off') new PartitionController(svc, { policy: o.policy, windowMs: o.windowMs, controlUrl: o.controlUrl, token: serviceToken(), target: o.target, config });
      const timeline = o.controlUrl ? new TimelineReporter({ url: o.controlUrl, target: o.target, component: o.name, kind: 'partitions', token: serviceToken(), log: logger('stream') }) : undefined;
      if (timeline) svc.onEvent((e) => timeline.report(timelineReport(e)));
      // From the environment, not a flag, so it does not show in the process list.
      const app = await startAdmin(svc, o.listen, process.env.SHADOWPLANE_STREAM_TOKEN || undefined);
      process.stderr.write(`stream service on ${boundUrl(app.server)} (${log.kind}, ${o.partitions} partitions, ${o.workers} workers)\n`);
      runUntilSignal(async () => {
        await app.close();
        await svc.stop();
        await timeline?.flush();
        await log.close();
      });
    });
}
