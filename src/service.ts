/**
 * The Shadowplane service: wires the Shadow Store, the rollup engine, the ingest path, the scraper
 * and the HTTP API, and owns their lifecycle (start, periodic flush and compaction, graceful stop
 * that flushes).
 */
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { realClock, type Clock } from './core/clock.js';
import { DEFAULT_SCRAPE_INTERVAL, durationMs } from './core/schema.js';
import type { Config } from './config.js';
import { TargetRegistry } from './control/targets.js';
import { Controller } from './control/controller.js';
import { DemoFeed, withDemo } from './control/demo.js';
import { Ingestor } from './ingest/ingestor.js';
import { Pseudonymizer, resolvePseudonymKey } from './ingest/pseudonym.js';
import { Scraper } from './ingest/scraper.js';
import { logger, type Logger } from './obs/log.js';
import { ServiceMetrics } from './obs/metrics.js';
import { PostgresStore } from './store/postgres.js';
import { RollupEngine } from './store/rollup.js';
import { SqliteStore } from './store/sqlite.js';
import type { ShadowStore } from './store/store.js';
import { assertSafeBind, boundUrl } from './api/app.js';
import { buildApi } from './api/server.js';
import { EventBus, observeStore } from './api/events.js';
import { ShadowRegistry } from './control/shadows/registry.js';

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

/** A running (or ready to run) Shadowplane service. */
export class ShadowplaneService {
  readonly clock: Clock;
  readonly log: Logger;
  readonly store: ShadowStore;
  readonly engine: RollupEngine;
  readonly targets: TargetRegistry;
  readonly ingestor: Ingestor;
  readonly scraper: Scraper;
  readonly metrics: ServiceMetrics;
  readonly api: FastifyInstance;
  readonly controller: Controller;
  /** Change notifications for GET /v1/stream. */
  readonly events = new EventBus();
  /** The shadow components: their status read from their admin APIs, and actions relayed to them. */
  readonly shadows: ShadowRegistry;
  private demo: DemoFeed | undefined;
  /** Window lengths in seconds, finest first. */
  readonly granularities: number[];
  /** Cancel functions of the background jobs' next runs, by job. */
  private readonly timers = new Map<string, () => void>();
  private flushing: Promise<void> = Promise.resolve();
  private stopped = false;

  private constructor(
    readonly config: Config,
    options: ServiceOptions,
  ) {
    this.clock = options.clock ?? realClock;
    this.log = options.log ?? logger('service');
    this.store = observeStore(options.store ?? openStore(config), this.events);
    this.granularities = config.store.granularities.map((g) => durationMs(g) / 1000);
    this.engine = new RollupEngine(
      {
        granularities: this.granularities,
        topK: config.store.topK,
        openKeysPerDimension: config.store.openKeysPerDimension,
        latenessSeconds: durationMs(config.store.lateness) / 1000,
      },
      this.clock,
    );
    this.targets = new TargetRegistry(this.store, this.clock);
    this.metrics = new ServiceMetrics({
      seriesCount: () => this.store.seriesCount(),
      storeSizeBytes: () => this.store.sizeBytes(),
      openWindows: () => this.engine.openWindowCount(),
    });
    const pseudonyms = new Pseudonymizer(resolvePseudonymKey(config.ingest.pseudonymKey, config.store.dataDir));
    this.ingestor = new Ingestor(this.engine, this.targets, pseudonyms, this.clock, {
      maxFutureSkewMs: durationMs(config.ingest.maxFutureSkew),
      unknownTargets: config.ingest.unknownTargets,
    }, this.metrics);
    this.scraper = new Scraper(this.targets, this.ingestor, this.clock, logger('scraper'));
    this.controller = new Controller({ config, clock: this.clock, store: this.store, granularities: this.granularities, flush: () => this.flush(), log: logger('control') });
    this.shadows = new ShadowRegistry({
      clock: this.clock, store: this.store, log: logger('shadows'), file: join(config.store.dataDir, 'shadows.json'),
      onChange: (name) => this.events.publish({ type: 'shadow', shadow: name }),
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
    const service = new ShadowplaneService(config, options);
    await service.store.init();
    service.engine.restore(await service.store.loadOpenWindows());
    await service.targets.load(
      config.targets.map((t) => ({ name: t.name, kind: t.kind, labels: t.labels, samplingRate: t.sampling.rate, scrape: t.scrape && { url: t.scrape.url, interval: t.scrape.interval ?? DEFAULT_SCRAPE_INTERVAL } })),
    );
    await service.controller.init();
    service.shadows.load(config.shadows);
    if (config.demo.enabled) service.demo = await DemoFeed.open(service);
    return service;
  }

  /** Starts the flush and compaction timers and the scraper, then listens. Returns the address bound (`http://host:port`). */
  async start(): Promise<string> {
    this.every('flush', durationMs(this.config.store.flushInterval), () => this.flush());
    this.every('compaction', durationMs(this.config.store.compactionInterval), () => this.compact());
    this.scraper.start();
    this.shadows.start();
    this.demo?.start();
    this.controller.start();
    await this.api.listen({ host: this.config.server.host, port: this.config.server.port });
    const address = boundUrl(this.api.server);
    this.log.info({ address, backend: this.store.backend }, 'shadowplane listening');
    return address;
  }

  /**
   * Writes every closed window and every changed open window to the store. Flushes never overlap;
   * a failed flush keeps its closed windows for the next one and rejects.
   */
  flush(): Promise<void> {
    const run = this.flushing.catch(() => undefined).then(async () => {
      const batch = this.engine.takeFlush();
      if (batch.rows.length === 0) return batch.done();
      const end = this.metrics.flushDuration.startTimer({ backend: this.store.backend });
      try {
        await this.store.writeWindows(batch.rows);
        batch.done();
        this.metrics.flushRows.inc(batch.rows.length);
      } catch (err) {
        batch.failed();
        this.metrics.flushFailures.inc();
        throw err;
      } finally {
        end();
      }
    });
    this.flushing = run;
    return run;
  }

  /** Deletes windows past their granularity's retention; returns how many. */
  async compact(): Promise<number> {
    let deleted = 0;
    for (const [gran, keep] of Object.entries(this.config.store.retention)) {
      deleted += await this.store.deleteWindowsBefore(durationMs(gran) / 1000, this.clock.now() - durationMs(keep));
    }
    this.metrics.compacted.inc(deleted);
    return deleted;
  }

  /** Stops listening and timers, flushes what is open, and closes the store. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const cancel of this.timers.values()) cancel();
    this.scraper.stop();
    this.shadows.stop();
    this.demo?.stop();
    await this.controller.stop();
    await this.api.close();
    try {
      await this.flush();
    } finally {
      await this.store.close();
    }
    this.log.info('shadowplane stopped');
  }

  private every(name: string, ms: number, job: () => Promise<unknown>): void {
    const tick = () => {
      job()
        .catch((err: unknown) => this.log.error({ job: name, err: (err as Error).message }, 'background job failed'))
        .finally(() => {
          if (!this.stopped) this.timers.set(name, this.clock.setTimer(ms, tick));
        });
    };
    this.timers.set(name, this.clock.setTimer(ms, tick));
  }
}
