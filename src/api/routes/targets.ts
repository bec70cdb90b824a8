/** Managed targets: create, list, read, update, delete, and the sampling rate. */
import { randomUUID } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { DEFAULT_SCRAPE_INTERVAL, Labels, SamplingRate, ScrapeConfig, TargetName } from '../../core/config.js';
import type { ShadowplaneService } from '../../service.js';
import type { TargetRecord } from '../../store/store.js';
import { Actor, requester, Why } from '../who.js';

const Kind = Type.Union([Type.Literal('database'), Type.Literal('service'), Type.Literal('stream'), Type.Literal('volume')]);

const TargetBody = Type.Object(
  { name: TargetName, kind: Kind, labels: Type.Optional(Labels), sampling: Type.Optional(Type.Object({ rate: SamplingRate }, { additionalProperties: false })), scrape: Type.Optional(ScrapeConfig) },
  { additionalProperties: false },
);
const TargetPatch = Type.Object(
  { kind: Type.Optional(Kind), labels: Type.Optional(Labels), sampling: Type.Optional(Type.Object({ rate: SamplingRate }, { additionalProperties: false })), scrape: Type.Optional(Type.Union([ScrapeConfig, Type.Null()])) },
  { additionalProperties: false },
);
const SamplingBody = Type.Object(
  { rate: Type.Number({ minimum: 0, maximum: 1, errorMessage: 'must be a number between 0 and 1' }), actor: Actor, why: Type.Optional(Why) },
  { additionalProperties: false },
);
const NameParams = Type.Object({ name: TargetName });

/** Scrape settings with the default interval filled in (`null` passes through: it removes scraping). */
function scrapeSettings<T extends { url: string; interval?: string } | null | undefined>(s: T) {
  return (s ? { url: s.url, interval: s.interval ?? DEFAULT_SCRAPE_INTERVAL } : s) as T extends { url: string } ? { url: string; interval: string } : T;
}

/** The API form of a target, with its scrape status when scraped. */
function view(service: ShadowplaneService, t: TargetRecord) {
  return {
    name: t.name,
    kind: t.kind,
    labels: t.labels,
    sampling: { rate: t.samplingRate },
    scrape: t.scrape ? { ...t.scrape, status: service.scraper.statusOf(t.name) ?? null } : null,
    source: t.source,
    createdAt: new Date(t.createdAt).toISOString(),
    updatedAt: new Date(t.updatedAt).toISOString(),
  };
}

/** /v1/targets routes. */
export function targetRoutes(app: FastifyInstance, service: ShadowplaneService): void {
  const { targets } = service;
  const tags = ['targets'];

  app.get('/v1/targets', { schema: { tags, summary: 'Every managed target.' } }, async () => ({ targets: targets.list().map((t) => view(service, t)) }));

  app.post<{ Body: Static<typeof TargetBody> }>('/v1/targets', { schema: { tags, summary: 'Create a target.', body: TargetBody, security: [{ bearer: [] }] } }, async (req, reply) => {
    const b = req.body;
    const created = await targets.create(b.name, { kind: b.kind, labels: b.labels, samplingRate: b.sampling?.rate, scrape: scrapeSettings(b.scrape) });
    return reply.code(201).header('location', `/v1/targets/${created.name}`).send(view(service, created));
  });

  app.get<{ Params: Static<typeof NameParams> }>('/v1/targets/:name', { schema: { tags, summary: 'One target.', params: NameParams } }, async (req) => view(service, targets.get(req.params.name)));

  app.patch<{ Params: Static<typeof NameParams>; Body: Static<typeof TargetPatch> }>(
    '/v1/targets/:name',
    { schema: { tags, summary: 'Change some settings of a target.', params: NameParams, body: TargetPatch, security: [{ bearer: [] }] } },
    async (req) => {
      const b = req.body;
      return view(service, await targets.update(req.params.name, { kind: b.kind, labels: b.labels, samplingRate: b.sampling?.rate, scrape: scrapeSettings(b.scrape) }));
    },
  );

  app.delete<{ Params: Static<typeof NameParams> }>('/v1/targets/:name', { schema: { tags, summary: 'Delete a target and its windows.', params: NameParams, security: [{ bearer: [] }] } }, async (req, reply) => {
    await targets.remove(req.params.name);
    return reply.code(204).send();
  });

  app.get<{ Params: Static<typeof NameParams> }>('/v1/targets/:name/sampling', { schema: { tags, summary: 'The sampling rate in force.', params: NameParams } }, async (req) => ({ rate: targets.get(req.params.name).samplingRate }));

  app.put<{ Params: Static<typeof NameParams>; Body: Static<typeof SamplingBody> }>(
    '/v1/targets/:name/sampling',
    { schema: { tags, summary: 'Set the sampling rate; it applies to the next event and persists. The change goes to the audit trail with who and `why` (optional).', params: NameParams, body: SamplingBody, security: [{ bearer: [] }] } },
    async (req) => {
      const from = targets.get(req.params.name).samplingRate;
      const rate = (await targets.update(req.params.name, { samplingRate: req.body.rate })).samplingRate;
      const who = requester(req, req.body);
      await service.store.appendAudit({ id: randomUUID(), target: req.params.name, at: service.clock.now(), ...who, action: 'sampling', detail: { from, to: rate } });
      return { rate };
    },
  );
}
