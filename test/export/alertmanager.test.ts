/**
 * Alertmanager out, against a real Alertmanager: a controlled target (real loop on a virtual clock
 * that runs a few hours behind the wall clock, a real `command` actuator that can scale in but not
 * out while a file says so) sees a load spike; the anomaly event, the failure-risk crossing and the
 * failed scale-out arrive as alerts with their labels, driver annotations and dashboard links (read
 * back from Alertmanager's API); the failed action's alert resolves when a later scale-out succeeds,
 * the event's when the event closes, the risk's when it falls under the threshold (Alertmanager's
 * webhook reports each resolved).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { validateConfig } from '../../src/config.js';
import { VirtualClock } from '../../src/core/clock.js';
import { ShadowplaneService } from '../../src/service.js';
import { ALERTMANAGER_BIN, peerSkipReason, startAlertmanager, type Peer } from '../helpers/peers.js';
import { waitFor } from '../helpers/wait.js';

const MIN = 60_000;

interface AmAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  status: { state: string };
}

describe('alerts to a real Alertmanager', { skip: peerSkipReason(ALERTMANAGER_BIN) }, () => {
  let dir: string;
  let service: ShadowplaneService;
  let clock: VirtualClock;
  let alertmanager: Peer;
  let webhook: Server;
  let failFile: string;
  const notified: { status: string; alerts: { status: string; labels: Record<string, string>; endsAt: string }[] }[] = [];

  const alerts = async (): Promise<AmAlert[]> => (await (await fetch(`${alertmanager.url}/api/v2/alerts?filter=source%3D%22shadowplane%22`)).json()) as AmAlert[];
  const byName = (list: AmAlert[], name: string) => list.filter((a) => a.labels.alertname === name);

  /** One minute of load (and the step's tick and alert round), once no actuator command is running. */
  async function minute(load: number): Promise<void> {
    // the command runs in real time: the virtual minute must not pass (and time it out) meanwhile
    await waitFor('the actuator command to finish', async () => (service.controller.unverifiedExecutor.list('shop').some((t) => t.state === 'running') ? undefined : true));
    service.ingestor.ingestSamples([{ target: 'shop', metric: 'load', at: clock.now(), value: load }]);
    clock.advance(MIN);
    await service.controller.idle();
    await new Promise((r) => setImmediate(r));
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sp-alerts-'));
    failFile = join(dir, 'no-capacity');
    writeFileSync(failFile, '');
    webhook = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        notified.push(JSON.parse(body));
        res.end();
      });
    });
    await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', r));
    const hook = `http://127.0.0.1:${(webhook.address() as { port: number }).port}/`;
    alertmanager = await startAlertmanager([
      'route: { receiver: hook, group_by: [alertname, target, event], group_wait: 1s, group_interval: 1s, repeat_interval: 1h }',
      `receivers: [{ name: hook, webhook_configs: [{ url: "${hook}", send_resolved: true }] }]`,
    ].join('\n'));
    const now = Date.now();
    clock = new VirtualClock(now - (now % MIN) - 3 * 60 * MIN);
    service = await ShadowplaneService.create(validateConfig({
      server: { port: 0 },
      store: { dataDir: dir },
      control: { executor: { maxAttempts: 2, backoff: { baseMs: 1000, jitter: 0 } } },
      targets: [{
        name: 'shop', kind: 'service',
        // scaling out fails while the file is there (no capacity left to add); scaling in always works
        actuator: { type: 'command', shell: true, command: `test "$SHADOWPLANE_ACTION_TO" -le "$SHADOWPLANE_ACTION_FROM" || test ! -e ${JSON.stringify(failFile)}` },
        control: { metric: 'load', capacityPerUnit: 100, initialUnits: 2, minWindows: 2, season: '0s', history: '10m', provisioningDelay: '2m', horizon: '10m', scaleUpLookahead: '5m' },
      }],
      alerting: { alertmanager: alertmanager.url, interval: '1s', riskThreshold: 0.5, externalUrl: 'https://shadowplane.example', labels: { env: 'test' } },
    }), { clock });
    await service.start();
  });

  after(async () => {
    await service?.stop();
    await alertmanager?.stop();
    await new Promise((r) => webhook?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  test('an anomaly, a risk crossing and a failed action fire, and each resolves when its condition ends', async () => {
    for (let m = 0; m < 45; m++) await minute(50 + 2 * Math.sin(m * 1.7));
    assert.deepEqual(await alerts(), [], 'steady load fires nothing');
    for (let m = 0; m < 3; m++) await minute(400);

    const [event] = await service.store.listAnomalies({ target: 'shop', ongoing: true, limit: 1 });
    assert.ok(event, 'the spike opened an event');
    const firing = await waitFor('the three alerts in Alertmanager', async () => {
      clock.advance(1000);
      const list = await alerts();
      return ['ShadowplaneAnomaly', 'ShadowplaneFailureRisk', 'ShadowplaneActionFailed'].every((n) => byName(list, n).length === 1) ? list : undefined;
    });
    const [anomaly] = byName(firing, 'ShadowplaneAnomaly');
    assert.deepEqual(anomaly.labels, { alertname: 'ShadowplaneAnomaly', target: 'shop', severity: 'warning', source: 'shadowplane', env: 'test', event: event.id });
    assert.equal(anomaly.status.state, 'active');
    assert.equal(Date.parse(anomaly.startsAt), event.start);
    assert.equal(anomaly.annotations.drivers.split(',')[0], 'load');
    assert.match(anomaly.annotations.description, /^Driven by load \(spike, score \d\.\d\d, /);
    assert.equal(anomaly.annotations.dashboard, `https://shadowplane.example/ui/#/targets/shop?from=${new Date(event.start - 60 * MIN).toISOString()}`);

    const [risk] = byName(firing, 'ShadowplaneFailureRisk');
    const [latest] = await service.store.listDecisions({ target: 'shop', limit: 1 });
    assert.ok(latest.scores!.risk! >= 0.5);
    assert.equal(risk.labels.severity, 'critical');
    assert.match(risk.annotations.summary, /^shop: \d+ % risk of a failure or SLO breach within 60 min$/);
    assert.ok(risk.annotations.drivers.split(',').some((d) => d === 'utilisation' || d === 'anomaly'), risk.annotations.drivers);

    const [failed] = byName(firing, 'ShadowplaneActionFailed');
    const decision = (await service.store.getDecision(failed.annotations.decision))!;
    assert.equal(decision.status, 'failed');
    assert.equal(failed.labels.target, 'shop');
    assert.match(failed.annotations.summary, /^shop: scaling \d+ -> \d+ failed$/);
    assert.ok(decision.action!.to > decision.action!.from);

    // capacity is there again: the next scale-out works, and the failed-action alert resolves
    rmSync(failFile);
    const succeededAfterFailure = async () => {
      const [lastFailed] = await service.store.listDecisions({ target: 'shop', limit: 1, status: 'failed' });
      const [ok] = await service.store.listDecisions({ target: 'shop', limit: 1, status: 'succeeded' });
      return ok !== undefined && ok.at > lastFailed.at;
    };
    for (let m = 0; m < 20 && !(await succeededAfterFailure()); m++) await minute(400);
    assert.ok(await succeededAfterFailure(), 'a scale-out succeeded after the failures');
    await waitFor('the failed-action alert resolved', async () => {
      clock.advance(1000);
      return notified.flatMap((n) => n.alerts).find((a) => a.labels.alertname === 'ShadowplaneActionFailed' && a.status === 'resolved');
    });

    // back to steady load: the event closes after its quiet period and its alert is resolved
    for (let m = 0; m < 40 && (await service.store.getAnomaly(event.id))?.end === null; m++) await minute(50 + 2 * Math.sin(m * 1.7));
    const closed = await service.store.getAnomaly(event.id);
    assert.ok(closed?.end, 'the event closed');
    const resolved = await waitFor('the anomaly alert resolved through the webhook', async () => {
      clock.advance(1000);
      return notified.flatMap((n) => n.alerts).find((a) => a.labels.event === event.id && a.status === 'resolved');
    });
    assert.equal(Date.parse(resolved.endsAt), closed.end);
    assert.equal(byName(await alerts(), 'ShadowplaneAnomaly').length, 0);

    // the risk falls back under the threshold: its alert resolves
    const riskNow = async () => (await service.store.listDecisions({ target: 'shop', limit: 1 }))[0].scores?.risk ?? 1;
    for (let m = 0; m < 60 && (await riskNow()) >= 0.5; m++) await minute(50 + 2 * Math.sin(m * 1.7));
    assert.ok((await riskNow()) < 0.5, `risk ${await riskNow()} fell under the threshold`);
    await waitFor('the risk alert resolved', async () => {
      clock.advance(1000);
      return notified.flatMap((n) => n.alerts).find((a) => a.labels.alertname === 'ShadowplaneFailureRisk' && a.status === 'resolved');
    });
  });
});
