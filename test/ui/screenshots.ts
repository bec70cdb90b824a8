/**
 * Screenshots of the dashboard against the demo: starts the service with examples/demo.yaml (real
 * clock, a temporary data directory, port 0), waits for the demo target's first decision, then
 * saves the Fleet and Target pages into docs/screenshots/. Takes about 1–2 minutes.
 *
 *   npx tsx test/ui/screenshots.ts
 *
 * Fails (exit 1) when Chromium is missing or no decision appears within 3 minutes.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile, validateConfig } from '../../src/core/config.js';
import { ShadowplaneService } from '../../src/service.js';
import { launchChromium } from './browser.js';

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'sp-shots-'));
  const demo = loadConfigFile('examples/demo.yaml');
  const config = validateConfig({ ...demo, server: { ...demo.server, host: '127.0.0.1', port: 0 }, store: { ...demo.store, dataDir } });
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
    console.log('wrote docs/screenshots/fleet.png and docs/screenshots/target.png');
  } finally {
    await browser.close();
    await service.stop();
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
