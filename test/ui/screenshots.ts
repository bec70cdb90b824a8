/**
 * Screenshots of the dashboard against the demo: starts the service with examples/demo.yaml (real
 * clock, a temporary data directory, port 0) plus real shadow components (test/api/shadow-components.ts:
 * a traffic proxy with a migration, a stream service, a volume service, the PostgreSQL interceptor),
 * waits for the demo target's first decision, then saves the Fleet, Target and Shadows pages into
 * docs/screenshots/. Takes about 1–2 minutes.
 *
 *   npx tsx test/ui/screenshots.ts
 *
 * Fails (exit 1) when Chromium is missing or no decision appears within 3 minutes.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile, validateConfig } from '../../src/config.js';
import { ShadowplaneService } from '../../src/service.js';
import { PROXY_TOKEN, startComponents } from '../api/shadow-components.js';
import { launchChromium } from './browser.js';

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sp-shots-'));
  const demo = loadConfigFile('examples/demo.yaml');
  const c = await startComponents();
  const shadows = [
    { name: 'demo-proxy', kind: 'traffic', url: c.trafficAdmin, token: PROXY_TOKEN, target: 'demo' },
    { name: 'events', kind: 'partitions', url: c.streamAdmin },
    { name: 'disks', kind: 'volumes', url: c.volumeAdmin },
    { name: 'orders-sql', kind: 'sql', url: c.sqlAdmin },
  ];
  const config = validateConfig({ ...demo, server: { ...demo.server, host: '127.0.0.1', port: 0 }, store: { ...demo.store, dataDir }, shadows });
  const service = await ShadowplaneService.create(config);
  const base = await service.start();
  const browser = await launchChromium();
  try {
    const deadline = Date.now() + 3 * 60_000;
    while ((await service.controller.decisions('demo', 1)).length === 0) {
      if (Date.now() > deadline) throw new Error('no decision of the demo target within 3 minutes');
      await new Promise((r) => setTimeout(r, 2000));
    }
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    mkdirSync('docs/screenshots', { recursive: true });
    await page.goto(`${base}/`);
    await page.locator('main[data-ready=fleet]').waitFor();
    await page.screenshot({ path: 'docs/screenshots/fleet.png' });
    await page.goto(`${base}/ui/#/targets/demo?range=6h`);
    await page.locator('main[data-ready=target]').waitFor();
    await page.locator('#chart .uplot, #chart .empty').first().waitFor();
    await page.screenshot({ path: 'docs/screenshots/target.png', fullPage: true });

    // Something to show: mirrored reads with a differing field, a migration one step in, reads on
    // the volume with its hot set on the fast tier, a partition moved (its former primary kept as a
    // standby), a worker forbidden for the other.
    await c.traffic(40);
    await c.startMigration();
    await service.shadows.act('demo-proxy', { op: 'migration', route: 'orders', command: 'promote' }, { actor: 'screenshots', why: 'shadow verified' });
    for (let i = 0; i < 200; i++) await c.volume.read(4096 * ((i * i) % 23), 4096);
    // Copies up to the fast tier run in the background: wait until the hot set is placed there.
    const onFast = () => c.volume.stats().tiers.find((t) => t.name === 'nvme')?.validBlocks ?? 0;
    for (const deadline = Date.now() + 10_000; onFast() === 0 && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 50));
    if (onFast() === 0) throw new Error('no block reached the fast tier within 10 s');
    await service.shadows.act('events', { op: 'move', partition: 1, worker: 1 - c.stream.table.owners[1] }, { actor: 'screenshots', why: 'rebalance' });
    await service.shadows.act('events', { op: 'forbid', partition: 0, worker: 1 - c.stream.table.owners[0], forbidden: true }, { actor: 'screenshots', why: 'its disk is failing' });
    for (const s of service.shadows.list()) await service.shadows.poll(s.name);
    await page.goto(`${base}/ui/#/shadows`);
    await page.locator('main[data-ready=shadows]').waitFor();
    await page.screenshot({ path: 'docs/screenshots/shadows.png', fullPage: true });
    console.log('wrote docs/screenshots/fleet.png, target.png and shadows.png');
  } finally {
    await browser.close();
    await service.stop();
    await c.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

// `npm test` runs every file under dist/test/ through node --test: the screenshots are taken only
// when this file is run on its own.
if (!process.env.NODE_TEST_CONTEXT) {
  main().catch((err: unknown) => {
    console.error((err as Error).message);
    process.exit(1);
  });
}
