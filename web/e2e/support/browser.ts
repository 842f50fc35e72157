import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

/**
 * Debian's chromium, launched by playwright-core. Browsers cannot be
 * downloaded here, so `playwright install` is never used; these flags keep
 * chromium from reaching the network on its own.
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export type Theme = 'light' | 'dark';
export const ACTION_TIMEOUT_MS = 15_000;
export const THEMES: Theme[] = ['light', 'dark'];

const screenshotsDir = fileURLToPath(new URL('../screenshots/', import.meta.url));

export function baseUrl(): string {
  const url = process.env.TAKHIN_URL;
  if (!url) throw new Error('TAKHIN_URL is not set: run the specs through e2e/run.mjs');
  return url;
}

/** The second `takhin serve`, whose segments e2e/run.mjs damaged (support/damaged-cluster.mjs). */
export function damagedClusterUrl(): string {
  const url = process.env.TAKHIN_DAMAGED_URL;
  if (!url) throw new Error('TAKHIN_DAMAGED_URL is not set: run the specs through e2e/run.mjs');
  return url;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: CHROMIUM_ARGS,
  });
}

/**
 * A fresh context in one theme, on the console at `url`: the preference is stored the way the
 * console stores it, and the OS preference is emulated to match, so both
 * the inline pre-paint script and React agree.
 */
export async function themedContext(
  browser: Browser,
  theme: Theme,
  url: string = baseUrl(),
): Promise<BrowserContext> {
  const context = await browser.newContext({
    baseURL: url,
    colorScheme: theme,
    // The README's screenshots come from this size; keep it a common laptop's.
    viewport: { width: 1280, height: 800 },
  });
  // Long enough for a cold chunk load on a busy CI machine, short enough that
  // a missing element fails the test well inside the spec timeout.
  context.setDefaultTimeout(ACTION_TIMEOUT_MS);
  await context.addInitScript((value) => {
    window.localStorage.setItem('takhin.theme', value);
  }, theme);
  return context;
}

/**
 * Saves `<name>-<theme>.png` under e2e/screenshots/ (build artifacts, ignored
 * by git): what is in the viewport once no skeleton is left, animations
 * finished, nothing hovered or focused.
 */
export async function screenshot(page: Page, name: string, theme: Theme): Promise<string> {
  await mkdir(screenshotsDir, { recursive: true });
  const file = path.join(screenshotsDir, `${name}-${theme}.png`);
  // Real data, not placeholders: every loading skeleton has been replaced.
  await page.locator('[data-slot="skeleton"]').first().waitFor({ state: 'detached' });
  // No hover state (a chart's tooltip, a row's highlight) and no focus ring in the picture.
  await page.mouse.move(0, 0);
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  await page.screenshot({ path: file, animations: 'disabled' });
  return file;
}

/**
 * Uncaught exceptions in the page, collected so a spec can assert there were
 * none: a console that renders but threw is still broken.
 */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  return errors;
}
