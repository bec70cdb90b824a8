/**
 * Headless Chromium for the dashboard tests and screenshots: Debian's /usr/bin/chromium driven by
 * playwright-core, never a downloaded browser.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Where Debian installs Chromium (`apt-get install chromium`); SHADOWPLANE_CHROMIUM overrides it. */
export const CHROMIUM = process.env.SHADOWPLANE_CHROMIUM ?? '/usr/bin/chromium';

/** Flags that keep Chromium headless, sandbox-free (containers) and off the network. */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** True when the browser binary exists. */
export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM);
}

/** Launches Chromium; rejects when it is missing or does not start. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
}
