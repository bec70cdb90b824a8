/**
 * Managed targets: create, list, read, update, delete, and the sampling rate. Every change goes to
 * the target's audit trail with who, why (optional here) and what changed; the trail of a deleted
 * target is kept.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { Clock } from '../../core/clock.js';
import { DEFAULT_SCRAPE_INTERVAL, Labels, SamplingRate, ScrapeConfig, TargetName } from '../../core/schema.js';
import type { Controller } from '../../control/controller.js';
import type { TargetRegistry } from '../../control/targets.js';
import type { Scraper } from '../../ingest/scraper.js';
import type { ShadowStore, TargetRecord } from '../../store/store.js';
import { Actor, requester, Why } from '../who.js';

const Kind = Type.Union([Type.Literal('database'), Type.Literal('service'), Type.Literal('stream'), Type.Literal('volume')]);

const Sampling = Type.Object({ rate: SamplingRate }, { additionalProperties: false });
const TargetBody = Type.Object(
  {
    name: TargetName, kind: Kind, labels: Type.Optional(Labels), sampling: Type.Optional(Sampling), scrape: Type.Optional(ScrapeConfig),
    actor: Actor, why: Type.Optional(Why),
  },
  { additionalProperties: false },
);
const TargetPatch = Type.Object(
  {
    kind: Type.Optional(Kind), labels: Type.Optional(Labels), sampling: Type.Optional(Sampling), scrape: Type.Optional(Type.Union([ScrapeConfig, Type.Null()])),
    actor: Actor, why: Type.Optional(Why),
  },
  { additionalProperties: false },
);
const SamplingBody = Type.Object(
  { rate: Type.Number({ minimum: 0, maximum: 1, errorMessage: 'must be a number between 0 and 1' }), actor: Actor, why: Type.Optional(Why) },
  { additionalProperties: false },
);
const NameParams = Type.Object({ name: TargetName });
const DeleteQuery = Type.Object({ actor: Actor, why: Type.Optional(Why) }, { additionalProperties: false });

/** The settings of a target that a change can touch, as the audit trail records them. */
function settingsOf(t: TargetRecord) {
  return { kind: t.kind, labels: t.labels, sampling: { rate: t.samplingRate }, scrape: t.scrape ?? null };
}

/** The settings whose values differ between two versions of a target, old and new. */
function changedSettings(before: TargetRecord, after: TargetRecord): { from: Record<string, unknown>; to: Record<string, unknown> } {
  const a = settingsOf(before) as Record<string, unknown>;
  const b = settingsOf(after) as Record<string, unknown>;
  const keys = Object.keys(b).filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
  return { from: Object.fromEntries(keys.map((k) => [k, a[k]])), to: Object.fromEntries(keys.map((k) => [k, b[k]])) };
}

/** Scrape settings with the default interval filled in (`null` passes through: it removes scraping). */
function scrapeSettings<T extends { url: string; interval?: string } | null | undefined>(s: T) {
  return (s ? { url: s.url, interval: s.interval ?? DEFAULT_SCRAPE_INTERVAL } : s) as T extends { url: string } ? { url: string; interval: string } : T;
}

/** What the target routes use. */
export interface TargetRouteDeps {
  readonly targets: Pick<TargetRegistry, 'list' | 'get' | 'create' | 'update' | 'remove'>;
  readonly scraper: Pick<Scraper, 'statusOf'>;
  /** A new target's loop is in place before the answer; a deleted one's ends before its records go. */
  readonly controller: Pick<Controller, 'settled' | 'release'>;
  readonly store: Pick<ShadowStore, 'appendAudit'>;
  readonly clock: Clock;
}

/** The API form of a target, with its scrape status when scraped. */
function view(scraper: TargetRouteDeps['scraper'], t: TargetRecord) {
  return {
    name: t.name,
    kind: t.kind,
    labels: t.labels,
    sampling: { rate: t.samplingRate },
    scrape: t.scrape ? { ...t.scrape, status: scraper.statusOf(t.name) ?? null } : null,
    source: t.source,
    createdAt: new Date(t.createdAt).toISOString(),
    updatedAt: new Date(t.updatedAt).toISOString(),
  };
}

/** /v1/targets routes. */
export const targetRoutes: FastifyPluginAsyncTypebox<TargetRouteDeps> = async (app, { targets, scraper, controller, store, clock }) => {
  const tags = ['targets'];
  const audit = (target: string, who: { actor: string; why: string }, action: string, detail: unknown): Promise<void> =>
    store.appendAudit({ id: randomUUID(), target, at: clock.now(), ...who, action, detail });

  app.get('/v1/targets', { schema: { tags, summary: 'Every managed target.' } }, async () => ({ targets: targets.list().map((t) => view(scraper, t)) }));

  app.post('/v1/targets', { schema: { tags, summary: 'Create a target.', body: TargetBody, security: [{ bearer: [] }] } }, async (req, reply) => {
    const b = req.body;
    const created = await targets.create(b.name, { kind: b.kind, labels: b.labels, samplingRate: b.sampling?.rate, scrape: scrapeSettings(b.scrape) });
    await controller.settled();
    await audit(created.name, requester(req, b), 'create', settingsOf(created));
    return reply.code(201).header('location', `/v1/targets/${created.name}`).send(view(scraper, created));
  });

  app.get('/v1/targets/:name', { schema: { tags, summary: 'One target.', params: NameParams } }, async (req) => view(scraper, targets.get(req.params.name)));

  app.patch(
    '/v1/targets/:name',
    { schema: { tags, summary: 'Change some settings of a target.', params: NameParams, body: TargetPatch, security: [{ bearer: [] }] } },
    async (req) => {
      const b = req.body;
      const before = targets.get(req.params.name);
      const after = await targets.update(req.params.name, { kind: b.kind, labels: b.labels, samplingRate: b.sampling?.rate, scrape: scrapeSettings(b.scrape) });
      const change = changedSettings(before, after);
      if (Object.keys(change.to).length > 0) await audit(after.name, requester(req, b), 'update', change);
      return view(scraper, after);
    },
  );

  app.delete(
    '/v1/targets/:name',
    { schema: { tags, summary: 'Delete a target, its windows and decisions (its audit trail is kept).', params: NameParams, querystring: DeleteQuery, security: [{ bearer: [] }] } },
    async (req, reply) => {
      const before = targets.get(req.params.name);
      // its loop ends first, so no tick writes for a target whose records are being deleted
      await controller.release(req.params.name);
      await targets.remove(req.params.name);
      await audit(before.name, requester(req, req.query), 'delete', settingsOf(before));
      return reply.code(204).send();
    },
  );

  app.get('/v1/targets/:name/sampling', { schema: { tags, summary: 'The sampling rate in force.', params: NameParams } }, async (req) => ({ rate: targets.get(req.params.name).samplingRate }));

  app.put(
    '/v1/targets/:name/sampling',
    { schema: { tags, summary: 'Set the sampling rate; it applies to the next event and persists. The change goes to the audit trail with who and `why` (optional).', params: NameParams, body: SamplingBody, security: [{ bearer: [] }] } },
    async (req) => {
      const from = targets.get(req.params.name).samplingRate;
      const rate = (await targets.update(req.params.name, { samplingRate: req.body.rate })).samplingRate;
      await audit(req.params.name, requester(req, req.body), 'sampling', { from, to: rate });
      return { rate };
    },
  );
};
