/**
 * `shadowplane volume serve`: runs one shadowed volume with its HTTP API and NBD export.
 * Tiers: the live file on an `ssd` profile, the complete shadow on `hdd`, hot copies on `nvme`
 * and (with --ssd-blocks) warm copies on a second `ssd` tier.
 */
import type { Command } from 'commander';
import { boundUrl } from '../api/app.js';
import { atLeastOne, positiveInt, serviceToken } from './common.js';
import { runUntilSignal } from './shutdown.js';
import { startAdmin } from '../shadows/volumes/admin.js';
import { LATENCY_TRIGGER_DEFAULTS } from '../shadows/volumes/latency-trigger.js';
import { NbdServer } from '../shadows/volumes/nbd.js';
import { DEFAULT_PROFILES } from '../shadows/volumes/profile.js';
import { Volume } from '../shadows/volumes/volume.js';
import { VolumeTelemetry } from '../shadows/volumes/telemetry.js';
import { logger } from '../obs/log.js';

const log = logger('volumes.cli');

/** Registers `volume serve`. */
export function register(program: Command): void {
  const volume = program.command('volume').description('Shadowed block volumes on tiered storage');
  volume
    .command('serve')
    .description('Serve a volume over NBD and an HTTP API; placement, redirection and failover run inside. With SHADOWPLANE_VOLUME_TOKEN set, HTTP requests that change state need it as a bearer token')
    .requiredOption('--dir <dir>', 'directory for the live file and the tier directories')
    .option('--name <name>', 'volume (and NBD export) name', 'vol1')
    .option('--size-mib <n>', 'volume size in MiB', positiveInt, 64)
    .option('--block-size <n>', 'block size in bytes (multiple of 512)', positiveInt, 4096)
    .option('--fast-blocks <n>', 'capacity of the nvme tier in blocks', positiveInt, 1024)
    .option('--ssd-blocks <n>', 'capacity of a second hot tier on the ssd profile, in blocks (0: none)', (v) => (v === '0' ? 0 : positiveInt(v)), 0)
    .option('--copy-budget-mibps <n>', 'bandwidth budget for copies up, MiB/s', positiveInt, 50)
    .option('--failover-latency-ms <n>', 'floor (ms) of the baseline-relative latency trigger: an I/O is slow above max(floor, --failover-factor x the learned p90)', positiveInt, 25)
    .option('--failover-factor <n>', 'an I/O is slow above this multiple of the learned p90 (and above the floor); >= 1', atLeastOne, LATENCY_TRIGGER_DEFAULTS.factor)
    .option('--failover-window <n>', 'recent I/Os the latency trigger counts slow ones among', positiveInt, LATENCY_TRIGGER_DEFAULTS.window)
    .option('--failover-min-slow <n>', 'slow I/Os among the last --failover-window that fail the volume over (<= --failover-window)', positiveInt, LATENCY_TRIGGER_DEFAULTS.minSlow)
    .option('--nbd-port <n>', 'NBD port on 127.0.0.1', positiveInt, 10809)
    .option('--http-port <n>', 'HTTP API port on 127.0.0.1', positiveInt, 8710)
    .option('--control-url <url>', 'Shadowplane service base URL: the volume\'s figures go to its Shadow Store as samples of --target, and its own actions (failover, failback, copies up) to the target\'s timeline')
    .option('--target <name>', 'the target this volume serves (samples and timeline)', 'volume')
    .option('--report-ms <n>', 'how often figures and actions are sent, ms', positiveInt, 10_000)
    .action(
      async (o: {
        dir: string;
        name: string;
        sizeMib: number;
        blockSize: number;
        fastBlocks: number;
        ssdBlocks: number;
        copyBudgetMibps: number;
        failoverLatencyMs: number;
        failoverFactor: number;
        failoverWindow: number;
        failoverMinSlow: number;
        nbdPort: number;
        httpPort: number;
        controlUrl?: string;
        target: string;
        reportMs: number;
      }) => {
        const vol = await Volume.open({
          name: o.name,
          dir: o.dir,
          blockSize: o.blockSize,
          blocks: Math.ceil((o.sizeMib * 2 ** 20) / o.blockSize),
          live: DEFAULT_PROFILES.ssd,
          shadow: DEFAULT_PROFILES.hdd,
          fastTiers: [
            { profile: DEFAULT_PROFILES.nvme, capacityBlocks: o.fastBlocks },
            ...(o.ssdBlocks > 0 ? [{ profile: { ...DEFAULT_PROFILES.ssd, name: 'ssd-hot' }, capacityBlocks: o.ssdBlocks }] : []),
          ],
          copyBudgetMiBps: o.copyBudgetMibps,
          failoverLatencyMs: o.failoverLatencyMs,
          failoverTrigger: { factor: o.failoverFactor, window: o.failoverWindow, minSlow: o.failoverMinSlow },
        });
        const volumes = new Map([[o.name, vol]]);
        const nbd = new NbdServer(volumes);
        const nbdPort = await nbd.listen(o.nbdPort);
        // From the environment, not a flag, so it does not show in the process list.
        const api = await startAdmin(volumes, { host: '127.0.0.1', port: o.httpPort }, process.env.SHADOWPLANE_VOLUME_TOKEN || undefined);
        log.info({ nbd: `nbd://127.0.0.1:${nbdPort}/${o.name}`, http: `${boundUrl(api.server)}/v1/volumes/${o.name}` }, 'volume serving');
        const telemetry = o.controlUrl
          ? new VolumeTelemetry(vol, { url: o.controlUrl, target: o.target, component: `volume-${o.name}`, token: serviceToken(), log })
          : undefined;
        const report = telemetry && setInterval(() => void telemetry.tick(), o.reportMs);
        runUntilSignal(async () => {
          clearInterval(report);
          await telemetry?.tick();
          await telemetry?.flush();
          await nbd.close();
          await api.close();
          await vol.close();
        });
      },
    );
}
