/** `shadowplane stream serve`: runs the partitioned stream service with its HTTP API and control loop. */
import type { Command } from 'commander';
import { PartitionController } from '../shadows/partitions/controller.js';
import { startAdmin } from '../shadows/partitions/admin.js';
import { JetStreamLog } from '../shadows/partitions/jetstream-log.js';
import type { ReplicaLog } from '../shadows/partitions/log.js';
import { SegmentLog, type FsyncPolicy } from '../shadows/partitions/segment-log.js';
import { logger } from '../obs/log.js';
import { StreamService, timelineReport } from '../shadows/partitions/service.js';
import { TimelineReporter } from '../shadows/timeline.js';
import { boundUrl } from '../api/app.js';
import { hostPort, oneOf, positiveInt } from './common.js';
import { runUntilSignal } from './shutdown.js';

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
    .option('--control-url <url>', 'Shadowplane service base URL: partition samples go to its Shadow Store and the service\'s own actions to the target\'s timeline')
    .option('--target <name>', 'the target this stream serves (samples and timeline)', 'stream')
    .option('--name <name>', 'this component\'s name on the timeline', 'stream')
    .action(async (o: {
      listen: { host: string; port: number }; backend: 'segment' | 'jetstream'; dir: string; fsync: FsyncPolicy; nats: string; prefix: string;
      partitions: number; workers: number; capacity: number; windowMs: number; policy: 'shadow' | 'reactive' | 'off'; controlUrl?: string; target: string; name: string;
    }) => {
      const log: ReplicaLog = o.backend === 'jetstream' ? await JetStreamLog.open({ url: o.nats, prefix: o.prefix }) : new SegmentLog({ dir: o.dir, fsync: o.fsync });
      const svc = await StreamService.start({ log, partitions: o.partitions, workers: o.workers, capacity: o.capacity, windowMs: o.windowMs });
      if (o.policy !== 'off') new PartitionController(svc, { policy: o.policy, windowMs: o.windowMs, controlUrl: o.controlUrl, token: process.env.SHADOWPLANE_API_TOKEN || undefined, target: o.target });
      const timeline = o.controlUrl ? new TimelineReporter({ url: o.controlUrl, target: o.target, component: o.name, kind: 'partitions', token: process.env.SHADOWPLANE_API_TOKEN || undefined, log: logger('stream') }) : undefined;
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
