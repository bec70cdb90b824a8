/**
 * What the traffic proxy puts on its target's timeline: every event of a migration (started,
 * stepped up, completed, rolled back, promoted, paused, resumed, aborted), with the proxy's own
 * reason and the figures of the verdict that led to it. Verdicts are not reported on their own:
 * the step, completion or rollback they cause carries their figures.
 */
import type { TimelineReport } from '../timeline.js';
import type { Migration, MigrationRecord } from './migration.js';

const pct = (w: number) => `${Math.round(w * 1000) / 10} %`;

/** The timeline report of one migration record, or undefined for a passing verdict. */
export function migrationReport(m: Pick<Migration, 'id' | 'route' | 'reason' | 'history'>, r: MigrationRecord): TimelineReport | undefined {
  // A failing verdict is followed at once by its rollback, which carries its reasons.
  if (r.event === 'verdict') return undefined;
  const verdict = [...m.history].reverse().find((h) => h.event === 'verdict' && h.at <= r.at);
  const figures = verdict?.evidence && (r.event === 'step' || r.event === 'complete' || r.event === 'rollback')
    ? {
        shadowErrorRate: verdict.evidence.shadow.errorRate, primaryErrorRate: verdict.evidence.primary.errorRate,
        shadowP99Ms: verdict.evidence.shadow.p99Ms, primaryP99RefMs: verdict.evidence.primaryP99RefMs, mismatchRate: verdict.evidence.mismatchRate,
      }
    : {};
  const why = r.reasons?.length ? `: ${r.reasons.join('; ')}` : '';
  const message = {
    start: `route ${m.route}: migration to the shadow started (${m.reason})`,
    step: `route ${m.route}: the shadow now serves ${pct(r.weight)} of traffic${verdict ? ', the step before verified' : ''}`,
    complete: `route ${m.route}: migration completed, the shadow serves ${pct(r.weight)} (verified)`,
    rollback: `route ${m.route}: rolled back to ${pct(r.weight)} on the shadow${why}`,
    abort: `route ${m.route}: migration aborted, all traffic back on the primary${why}`,
    promote: `route ${m.route}: step at ${pct(r.weight)} promoted without verification`,
    pause: `route ${m.route}: migration paused at ${pct(r.weight)}`,
    resume: `route ${m.route}: migration resumed at ${pct(r.weight)}`,
  }[r.event];
  return { action: `migration-${r.event}`, message, at: r.at, evidence: { route: m.route, migration: m.id, weight: r.weight, ...figures } };
}
