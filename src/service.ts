/**
 * The Shadowplane service: wires the Shadow Store, the rollup engine, the ingest path, the scraper
 * and the HTTP API, and owns their lifecycle (start, periodic flush and compaction, graceful stop
 * that flushes).
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { realClock, repeat, type Clock } from './core/clock.js';
import { ShadowplaneError } from './core/errors.js';
import { DEFAULT_SCRAPE_INTERVAL, durationMs } from './core/schema.js';
import type { Config } from './config.js';
import { TargetRegistry } from './control/targets.js';
import { Controller } from './control/controller.js';
import { CapacityRuns } from './control/capacity.js';
import { DemoFeed, withDemo } from './demo/feed.js';
import { DemoTraffic } from './demo/traffic.js';
import { Ingestor } from './ingest/ingestor.js';
import { PartitionedIngest } from './ingest/partitioned.js';
import { IngestStream } from './ingest/stream.js';
import { Pseudonymizer, resolvePseudonymKey } from './ingest/pseudonym.js';
import { Scraper } from './ingest/scraper.js';
import { TokenBucket } from './ingest/ratelimit.js';
import { logger, type Logger } from './obs/log.js';
import { ServiceMetrics } from './obs/metrics.js';
import { PartitionLeases } from './store/partitions.js';
import { PostgresStore } from './store/postgres.js';
import { writeOrQuarantine } from './store/quarantine.js';
import { RollupEngine, type RollupOptions } from './store/rollup.js';
import { describeOwner, lockDataDir, thisProcess, type DataDirLock } from './store/owner.js';
import { readSpills, removeSpill, spillRows } from './store/spill.js';
import { SqliteStore } from './store/sqlite.js';
import type { ShadowStore, StoreLease } from './store/store.js';
import { assertSafeBind, boundUrl } from './api/app.js';
import { buildApi } from './api/server.js';
import { EventBus, observeStore } from './obs/events.js';
import { ShadowRegistry } from './control/shadows/registry.js';
import { fleetOutlooks, outlookOf } from './control/outlook.js';
import { registerOutlookMetrics } from './export/prometheus.js';
import { AlertNotifier } from './export/alertmanager.js';
import { KedaScaler } from './export/keda.js';

/** Options that tests and embedders change; production uses the defaults. */
export interface ServiceOptions {
  clock?: Clock;
  log?: Logger;
  /** A store to use instead of the one the config names (tests share one). */
  store?: ShadowStore;
}

/** Opens the store the config names. */
export function openStore(config: Config): ShadowStore {
  if (config.store.backend === 'postgres') return new PostgresStore(config.store.postgres);
  return new SqliteStore(join(config.store.dataDir, 'shadowplane.db'));
}

/**
 * Most time a flush spends building rows before it lets the event loop run: `/healthz` and ingest
 * wait at most about this long behind a flush.
 */
const FLUSH_SLICE_MS = 40;

/** Why the store is not taking flushes, for /readyz: the last flush's error and since when flushes fail. */
export interface FlushFailure {
  error: string;
  /** ms since the epoch of the first failed flush in a row. */
  since: number;
}

/** What a stop could not write to the store, and where it keeps it instead. */
export interface StopReport {
  spilled?: { path: string; windows: number; error: string };
}

/** A running (or ready to run) Shadowplane service. */
export class ShadowplaneService {
  readonly clock: Clock;
  readonly log: Logger;
  readonly store: ShadowStore;
  readonly engine: RollupEngine;
  readonly targets: TargetRegistry;
  readonly ingestor: Ingestor;
  readonly scraper: Scraper;
  /** The API's ingest budget (server.maxEventsPerSecond), shared by every ingest route. */
  readonly admission: TokenBucket;
  readonly metrics: ServiceMetrics;
  readonly api: FastifyInstance;
  readonly controller: Controller;
  /** Capacity runs on the targets' shadow PostgreSQL instances, and the capacity per unit they give the loops. */
  readonly capacity: CapacityRuns;
  /** Change notifications for GET /v1/stream. */
  readonly events = new EventBus();
  /** The shadow components: their status read from their admin APIs, and actions relayed to them. */
  readonly shadows: ShadowRegistry;
  private demo: DemoFeed | undefined;
  private demoTraffic: DemoTraffic | undefined;
  /** Sends alerts to an Alertmanager when `alerting.alertmanager` is set (started with the API, which gives the dashboard's address). */
  private alerts: AlertNotifier | undefined;
  /** KEDA's external scaler, when `keda.enabled`. */
  private keda: KedaScaler | undefined;
  /** Where the KEDA external scaler listens (`host:port`), once started. */
  kedaAddress: string | undefined;
  /** Window lengths in seconds, finest first. */
  readonly granularities: number[];
  /** Cancel functions of the background jobs' next runs, by job. */
  private readonly timers = new Map<string, () => void>();
  private flushing: Promise<void> = Promise.resolve();
  /** The flush asked for that has not started yet: every request until it starts joins it. */
  private nextFlush: Promise<void> | undefined;
  /** When the running flush took its rows (service clock, ms); undefined while none runs. */
  private flushTakenAt: number | undefined;
  /** When the last flush that succeeded took its rows. */
  private flushedAt = Number.NEGATIVE_INFINITY;
  private stopped = false;
  /** Set while flushes fail (the store cannot be written); cleared by the next flush that succeeds. */
  flushFailure: FlushFailure | undefined;
  /** The lease of a shared store's loops (PostgreSQL); undefined on an embedded store. */
  private lease: StoreLease | undefined;
  /**
   * Why this instance runs no loops and refuses writes (another instance holds the store's lease,
   * or this one lost it), naming the holder when known; undefined while it owns the store.
   */
  standby: string | undefined;
  /** Called when a held lease is lost (the loops have stopped); `serve` exits so its supervisor restarts it as a standby. */
  onLeaseLost: ((reason: string) => void) | undefined;
  /** The partitions of the ingest stream this replica rolls up, when `ingest.jetstream` is on (owner and standby alike). */
  partitioned: PartitionedIngest | undefined;

  private constructor(
    readonly config: Config,
    options: ServiceOptions,
    private readonly dataDirLock: DataDirLock,
    /** The ingest stream, when `ingest.jetstream` is on: every ingest path publishes to it instead of the engine. */
    readonly ingestStream?: IngestStream,
  ) {
    this.clock = options.clock ?? realClock;
    this.log = options.log ?? logger('service');
    this.store = observeStore(options.store ?? openStore(config), this.events);
    this.granularities = config.store.granularities.map((g) => durationMs(g) / 1000);
    this.engine = new RollupEngine(this.rollupOptions(), this.clock);
    this.targets = new TargetRegistry(this.store, this.clock);
    this.metrics = new ServiceMetrics({
      seriesCount: () => this.store.seriesCount(),
      storeSizeBytes: () => this.store.sizeBytes(),
      openWindows: () => this.engine.openWindowCount(),
      quarantinedWindows: () => this.store.quarantineCount(),
      onReadError: (gauge, err) => this.log.warn({ gauge, err: err.message }, 'a gauge could not be read from the store: /metrics leaves it out of this scrape'),
    });
    const pseudonyms = new Pseudonymizer(resolvePseudonymKey(config.ingest.pseudonymKey, config.store.dataDir));
    this.ingestor = new Ingestor(this.engine, this.targets, pseudonyms, this.clock, {
      maxFutureSkewMs: durationMs(config.ingest.maxFutureSkew),
      unknownTargets: config.ingest.unknownTargets,
    }, this.metrics);
    this.admission = new TokenBucket(config.server.maxEventsPerSecond, this.clock);
    this.scraper = new Scraper(this.targets, ingestStream ? this.publishingIngestor(ingestStream) : this.ingestor, this.clock, logger('scraper'));
    this.shadows = new ShadowRegistry({
      clock: this.clock, store: this.store, log: logger('shadows'), file: join(config.store.dataDir, 'shadows.json'),
      onChange: (name) => this.events.publish({ type: 'shadow', shadow: name }),
    });
    this.capacity = new CapacityRuns({
      clock: this.clock, store: this.store, log: logger('capacity'), granularities: this.granularities, flush: (since) => this.flushSince(since),
      settingsOf: (target) => {
        this.targets.get(target);
        return config.targets.find((t) => t.name === target)?.capacity;
      },
      lastDecision: (target) => this.controller.loop(target).latestDecision(),
      configured: () => config.targets.filter((t) => t.capacity && this.targets.find(t.name)).map((t) => t.name),
    });
    this.controller = new Controller({
      config, clock: this.clock, store: this.store, granularities: this.granularities, flush: (since) => this.flushSince(since),
      log: logger('control'), execLog: logger('exec'), targets: this.targets, shadows: this.shadows,
      capacity: (target, settings) => this.capacity.unitCapacity(target, settings),
    });
    registerOutlookMetrics(this.metrics.registry, {
      outlooks: () => fleetOutlooks(this.controller.analysed().map((t) => this.controller.loop(t)), this.store),
      shadows: () => this.shadows.list(),
    });
    this.api = buildApi(this);
  }

  /**
   * Builds the service and opens its store: schema created, open windows restored, targets
   * loaded. Does not listen or start timers; call start() for that.
   */
  static async create(config: Config, options: ServiceOptions = {}): Promise<ShadowplaneService> {
    assertSafeBind('the API', config.server.host, config.server.token, 'server.token or SHADOWPLANE_API_TOKEN');
    config = withDemo(config);
    const clock = options.clock ?? realClock;
    const owner = thisProcess(clock.now());
    const lock = lockDataDir(config.store.dataDir, owner);
    let service: ShadowplaneService | undefined;
    let stream: IngestStream | undefined;
    try {
      const { jetstream } = config.ingest;
      if (jetstream.enabled) stream = await IngestStream.open({ ...jetstream, retentionMs: durationMs(jetstream.retention) });
      service = new ShadowplaneService(config, options, lock, stream);
      await service.store.init();
      const s = service;
      if (stream) s.partitioned = await s.openPartitions(stream);
      s.lease = s.store.openLease?.(owner, (reason) => s.leaseLost(reason));
      if (!s.lease || (await s.lease.tryAcquire())) await s.takeStore();
      else await s.becomeStandby();
      return s;
    } catch (err) {
      await service?.store.close().catch(() => undefined);
      await stream?.close();
      lock.release();
      throw err;
    }
  }

  /** The leases of the ingest stream's partitions in the store, and their rollups (not started). */
  private async openPartitions(stream: IngestStream): Promise<PartitionedIngest> {
    const { store, config } = this;
    if (!(store instanceof PostgresStore)) {
      throw new ShadowplaneError('SHADOWPLANE_ERR_CONFIG_INVALID', 'ingest.jetstream needs the PostgreSQL store', [{ path: '/ingest/jetstream/enabled', message: 'needs store.backend: postgres' }]);
    }
    const leaseMs = durationMs(config.ingest.jetstream.lease);
    const { url, schema } = config.store.postgres;
    const leases = new PartitionLeases({ url, schema, stream: stream.name, partitions: stream.partitions, member: randomUUID(), leaseMs });
    await leases.init();
    return new PartitionedIngest({
      stream, leases, store, leaseMs, clock: this.clock, flushMs: durationMs(config.store.flushInterval), log: logger('partitions'),
      rollup: this.rollupOptions(),
    });
  }

  /** The rollup engines' bounds from the config (the service's engine and each ingest partition's). */
  private rollupOptions(): RollupOptions {
    const { store } = this.config;
    const latenessSeconds = durationMs(store.lateness) / 1000;
    return { granularities: this.granularities, topK: store.topK, openKeysPerDimension: store.openKeysPerDimension, latenessSeconds };
  }

  /** The ingest path for in-process callers (the scraper) when every accepted item goes through the stream; a failed publish is logged. */
  private publishingIngestor(stream: IngestStream): Pick<Ingestor, 'ingestSamples'> {
    return {
      ingestSamples: (items) => {
        const batch = stream.batch();
        const result = this.ingestor.ingestSamples(items, batch);
        batch.publish().catch((err: Error) => this.log.error({ samples: batch.size, err: err.message }, 'scraped samples were not published to the ingest stream'));
        return result;
      },
    };
  }

  /** What the owner of the store does before its loops run: write spilled windows, restore open ones, load targets and loops. */
  private async takeStore(): Promise<void> {
    const { config } = this;
    await this.writeSpills();
    // With the ingest stream, the stored open windows belong to the partitions' engines.
    if (!this.ingestStream) this.engine.restore(await this.store.loadOpenWindows());
    await this.targets.load(
      config.targets.map((t) => ({
        name: t.name, kind: t.kind, labels: t.labels, samplingRate: t.sampling.rate,
        scrape: t.scrape && { url: t.scrape.url, interval: t.scrape.interval ?? DEFAULT_SCRAPE_INTERVAL },
      })),
    );
    await this.controller.init();
    await this.capacity.init();
    this.shadows.load(config.shadows);
    if (config.demo.enabled) {
      this.demo = await DemoFeed.open(this);
      this.demoTraffic = await DemoTraffic.open(this);
    }
    this.standby = undefined;
  }

  /** Runs without loops, reading the stored targets only, until the lease is free. */
  private async becomeStandby(): Promise<void> {
    await this.targets.load([]);
    this.standby = `this instance is a standby: the store's lease is held by ${describeOwner(await this.lease?.holder())}`;
    this.log.warn({ schema: this.config.store.postgres.schema }, this.standby);
  }

  /** Starts the flush and compaction timers and the scraper (on a standby: the lease check), then listens. Returns the address bound (`http://host:port`). */
  async start(): Promise<string> {
    if (this.standby) this.watchLease();
    else this.startLoops();
    if (this.partitioned) {
      // The first heartbeat takes this replica's share at once; a failure is retried by the next.
      await this.partitioned.balance().catch((err: Error) => this.log.error({ err: err.message }, 'ingest partitions: the first heartbeat failed'));
      this.partitioned.start();
    }
    await this.api.listen({ host: this.config.server.host, port: this.config.server.port });
    const address = boundUrl(this.api.server);
    await this.demoTraffic?.start(address);
    const { alerting } = this.config;
    if (alerting.alertmanager) {
      this.alerts = new AlertNotifier({ ...alerting, alertmanager: alerting.alertmanager }, alerting.externalUrl ?? address, {
        store: this.store, clock: this.clock, log: logger('alerts'), targets: () => this.controller.analysed(),
      }, this.metrics.registry);
      this.alerts.start();
    }
    if (this.config.keda.enabled) {
      this.keda = new KedaScaler({
        outlook: async (target) => {
          this.targets.get(target);
          const loop = this.controller.loop(target);
          // KEDA scales on desired units, which only a loop with an actuator decides; an observed-only
          // target's forecast reaches KEDA through /metrics and its prometheus trigger instead
          if (!loop.actuatorKind) throw new ShadowplaneError('SHADOWPLANE_ERR_NOT_CONTROLLED', `target "${target}" is observed only: it decides no units (scale on its forecast through /metrics, or give it an actuator)`);
          return outlookOf(loop, this.store);
        },
        onDecision: (fn) => this.events.subscribe((e) => {
          if (e.type === 'decision' && e.target) fn(e.target);
        }),
        log: logger('keda'),
      });
      this.kedaAddress = await this.keda.listen(this.config.keda.host, this.config.keda.port);
      this.log.info({ address: this.kedaAddress }, 'KEDA external scaler listening');
    }
    this.log.info({ address, backend: this.store.backend }, 'shadowplane listening');
    return address;
  }

  /**
   * Writes every closed window and every changed open window to the store. Flushes never overlap,
   * and requests coalesce: one made while a flush runs waits for the next flush, which every
   * request until it starts shares (a fleet's loops each ask for a flush as they tick; one flush
   * takes everything ingested before all of them). Rows are built in slices of FLUSH_SLICE_MS, so
   * the API and ingest go on during a large flush.
   * A window the store refuses is quarantined and the rest written (see store/quarantine.ts); a
   * flush that fails (the store cannot be written) keeps its windows for the next one, sets
   * flushFailure and rejects.
   */
  flush(): Promise<void> {
    if (this.nextFlush) return this.nextFlush;
    const run = this.flushing.catch(() => undefined).then(async () => {
      this.nextFlush = undefined;
      if (this.standby) return; // only the lease holder writes windows
      const takenAt = this.clock.now();
      this.flushTakenAt = takenAt;
      const batch = await this.engine.takeFlushSliced(FLUSH_SLICE_MS);
      const written = () => (this.flushedAt = Math.max(this.flushedAt, takenAt));
      if (batch.windows.count === 0) {
        this.flushTakenAt = undefined;
        written();
        return batch.done();
      }
      const end = this.metrics.flushDuration.startTimer({ backend: this.store.backend });
      try {
        const quarantined = await writeOrQuarantine(this.store, batch.windows, this.clock.now());
        batch.done();
        written();
        this.flushFailure = undefined;
        this.metrics.flushRows.inc(batch.windows.count - quarantined.length);
        if (quarantined.length > 0) {
          this.metrics.quarantined.inc(quarantined.length);
          this.log.error({ windows: quarantined.length, error: quarantined[0].error }, 'the store refused windows: they are quarantined (GET /v1/store/quarantine) and the rest is written');
        }
      } catch (err) {
        batch.failed();
        this.metrics.flushFailures.inc();
        this.flushFailure = { error: (err as Error).message, since: this.flushFailure?.since ?? this.clock.now() };
        throw err;
      } finally {
        this.flushTakenAt = undefined;
        end();
      }
    });
    this.flushing = run;
    this.nextFlush = run;
    return run;
  }

  /**
   * Resolves once a flush that took its rows at or after `since` (service clock, ms) has written
   * them: at once when one has, with the running flush when it took them late enough, else with
   * the next flush. A loop ticking after a step boundary needs what was ingested before the
   * boundary, which a regular flush since then has already written.
   */
  flushSince(since: number): Promise<void> {
    if (this.flushedAt >= since) return Promise.resolve();
    if (this.flushTakenAt !== undefined && this.flushTakenAt >= since && !this.nextFlush) return this.flushing;
    return this.flush();
  }

  /** Writes the windows earlier stops could not (spill files in the data directory), then removes their files. */
  private async writeSpills(): Promise<void> {
    for (const { path, rows } of readSpills(this.config.store.dataDir)) {
      const quarantined = await writeOrQuarantine(this.store, rows, this.clock.now());
      removeSpill(path);
      this.log.warn({ file: path, windows: rows.length, quarantined: quarantined.length }, 'wrote the windows an earlier stop kept aside');
    }
  }

  private startLoops(): void {
    this.every('flush', durationMs(this.config.store.flushInterval), () => this.flush());
    this.every('compaction', durationMs(this.config.store.compactionInterval), () => this.compact());
    this.scraper.start();
    this.shadows.start();
    this.demo?.start();
    this.controller.start();
    this.capacity.startSchedule();
  }

  /** A standby tries the lease every store.postgres.leaseCheck; once it holds it, it takes the store and starts the loops. */
  private watchLease(): void {
    const tick = async () => {
      try {
        if (await this.lease!.tryAcquire()) {
          await this.takeStore();
          this.log.warn('took over the store: this instance holds its lease and runs the loops');
          if (!this.stopped) this.startLoops();
          return;
        }
      } catch (err) {
        this.log.error({ err: (err as Error).message }, 'cannot check the store lease');
      }
      if (!this.stopped) this.timers.set('lease', this.clock.setTimer(durationMs(this.config.store.postgres.leaseCheck), () => void tick()));
    };
    this.timers.set('lease', this.clock.setTimer(durationMs(this.config.store.postgres.leaseCheck), () => void tick()));
  }

  /**
   * The lease was lost while held: another instance may own the store now, so the loops stop at
   * once and what was not yet written goes to a spill file (the next owner start writes it).
   */
  private leaseLost(reason: string): void {
    this.standby = `this instance lost the store's lease (${reason}) and stopped its loops`;
    for (const cancel of this.timers.values()) cancel();
    this.timers.clear();
    this.scraper.stop();
    this.shadows.stop();
    this.demo?.stop();
    void this.capacity.stop();
    void this.controller.stop();
    const rows = this.engine.takeFlush().rows;
    const spill = rows.length > 0 ? spillRows(this.config.store.dataDir, rows, this.clock.now()) : undefined;
    this.log.error({ reason, spill, windows: rows.length }, this.standby);
    this.onLeaseLost?.(reason);
  }

  /** Deletes windows past their granularity's retention, then the series left without any; returns how many windows. */
  async compact(): Promise<number> {
    let deleted = 0;
    for (const [gran, keep] of Object.entries(this.config.store.retention)) {
      deleted += await this.store.deleteWindowsBefore(durationMs(gran) / 1000, this.clock.now() - durationMs(keep));
    }
    this.metrics.compacted.inc(deleted);
    if (deleted > 0) await this.store.deleteEmptySeries();
    return deleted;
  }

  /**
   * Stops listening and timers, flushes what is open, and closes the store. What the store cannot
   * take is written to a spill file in the data directory (the report says where), which the next
   * start writes to the store. Idempotent.
   */
  async stop(): Promise<StopReport> {
    if (this.stopped) return {};
    this.stopped = true;
    const report: StopReport = {};
    for (const cancel of this.timers.values()) cancel();
    this.scraper.stop();
    this.shadows.stop();
    this.demo?.stop();
    await this.demoTraffic?.stop();
    await this.alerts?.stop();
    await this.keda?.close();
    await this.capacity.stop();
    await this.controller.stop();
    await this.api.close();
    await this.partitioned?.stop().catch((err: Error) => this.log.error({ err: err.message }, 'could not stop the ingest partitions cleanly: their next holders replay them from their marks'));
    await this.ingestStream?.close();
    try {
      // A standby never writes; an owner flushes what is open.
      if (!this.standby) await this.flush();
    } catch (err) {
      // The failed flush kept its windows: take them all again and keep them on disk.
      const rows = this.engine.takeFlush().rows;
      const path = spillRows(this.config.store.dataDir, rows, this.clock.now());
      report.spilled = { path, windows: rows.length, error: (err as Error).message };
      this.log.error(report.spilled, 'the store could not take the last flush: its windows are kept in the spill file, which the next start writes');
    } finally {
      await this.lease?.release();
      await this.store.close();
      this.dataDirLock.release();
    }
    this.log.info('shadowplane stopped');
    return report;
  }

  private every(name: string, ms: number, job: () => Promise<unknown>): void {
    const failed = (err: Error) => this.log.error({ job: name, err: err.message }, 'background job failed');
    this.timers.set(name, repeat(this.clock, ms, job, failed, () => !this.stopped && !this.standby));
  }
}
